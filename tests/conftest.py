"""Fixtures shared by the template's tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import bake, run


@pytest.fixture(scope="session")
def default_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project baked with every default answer, shared by read-only tests."""
    return bake(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default bake, set up with `make setup` and trained with `make train`.

    It is baked inside another git repository (as `make demo` does under build/), so
    `make setup` must give the project a repository of its own for DVC.
    """
    outer = tmp_path_factory.mktemp("e2e")
    run(["git", "init", "--quiet"], outer)
    path = bake(outer)
    run(["make", "setup"], path)
    assert (path / ".git").is_dir()
    run(["git", "config", "user.name", "Template Tests"], path)
    run(["git", "config", "user.email", "tests@example.com"], path)
    run(["make", "train"], path)
    return path
