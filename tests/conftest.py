"""Fixtures shared by the template's tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import bake


@pytest.fixture(scope="session")
def default_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project baked with every default answer, shared by read-only tests."""
    return bake(tmp_path_factory.mktemp("default"))
