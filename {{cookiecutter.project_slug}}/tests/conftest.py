"""Shared fixtures: the project's settings and one pipeline run into a temporary folder.

Tests train their own model from the configured raw data (a few seconds), so they prove
the code path works without depending on a previous `dvc repro`. They never write the
project's own state (prediction log, registry, reports, dvc.lock, git tags): every output
goes to a temporary folder, in this process and in the servers and commands tests start.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from {{ cookiecutter.module_name }}.config import (
    ENV_PREFIX,
    Settings,
    load_settings,
)
from {{ cookiecutter.module_name }}.prediction.loader import load_model
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel
from {{ cookiecutter.module_name }}.serving.app import create_app
from {{ cookiecutter.module_name }}.storage import read_json
from {{ cookiecutter.module_name }}.training.data import run_prepare, run_split
from {{ cookiecutter.module_name }}.training.evaluate import run_evaluate
from {{ cookiecutter.module_name }}.training.train import run_train
from {{ cookiecutter.module_name }}.training.tune import run_tune


def redirect_outputs(settings: Settings, folder: Path) -> Settings:
    """Settings whose every output path lies in ``folder`` (the raw data stays put)."""
    outputs = {
        name: folder / path.name
        for name, path in settings.paths.model_dump().items()
        if name != "raw_data"
    }
    return settings.with_paths(**outputs)


def environment_for(settings: Settings) -> dict[str, str]:
    """os.environ plus one override per path of ``settings``, for a process a test starts.

    A child process (gunicorn, a CLI) reads params.yaml afresh: without these it would
    write the project's own prediction log, registry and reports.
    """
    overrides = {
        f"{ENV_PREFIX}__PATHS__{name.upper()}": str(path)
        for name, path in settings.paths.model_dump().items()
    }
    return {**os.environ, **overrides}


@pytest.fixture(scope="session")
def child_environment() -> Callable[[Settings], dict[str, str]]:
    """:func:`environment_for`, for tests that start a server or a command."""
    return environment_for


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The project's settings, exactly as params.yaml gives them."""
    return load_settings()


@pytest.fixture(scope="session")
def trained(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Run prepare, split, tune, train and evaluate into a temp folder; return its settings."""
    trained_settings = redirect_outputs(settings, tmp_path_factory.mktemp("pipeline"))
    run_prepare(trained_settings)
    run_split(trained_settings)
    run_tune(trained_settings)  # nothing to do unless params.yaml turns tuning on
    run_train(trained_settings)
    run_evaluate(trained_settings)
    return trained_settings


@pytest.fixture(scope="session")
def metrics(trained: Settings) -> dict[str, Any]:
    """The metrics the evaluate stage wrote."""
    return read_json(trained.paths.metrics)


@pytest.fixture(scope="session")
def model(trained: Settings) -> LoadedModel:
    """The certified model, loaded the way the server loads it."""
    return load_model(trained.paths.model, trained.paths.metadata)


@pytest.fixture
def example_record(model: LoadedModel) -> dict[str, Any]:
    """A valid request record (a fresh copy each test, so tests may mutate it)."""
    return dict(model.metadata["input_example"])


@pytest.fixture
def client(trained: Settings) -> FlaskClient:
    """A test client of the app serving the trained model."""
    return create_app(trained).test_client()
