"""Fixtures shared by the template's tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import TEMPLATE, bake, git_commit, run


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
    # A machine whose git starts repositories on master: the project must still be on main.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    environment |= {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "init.defaultBranch",
        "GIT_CONFIG_VALUE_0": "master",
    }
    run(["make", "setup"], path, env=environment)
    assert (path / ".git").is_dir()
    run(["git", "config", "user.name", "Template Tests"], path)
    run(["git", "config", "user.email", "tests@example.com"], path)
    run(["make", "train"], path)
    return path


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    """A committed copy of the template's tracked files, free to change."""
    copy = tmp_path / "template"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=TEMPLATE, capture_output=True, check=True
    ).stdout.decode()
    for relative in filter(None, tracked.split("\0")):
        target = copy / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TEMPLATE / relative, target)
    run(["git", "init", "--quiet"], copy)
    git_commit(copy, "Template v1")
    return copy


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks into the test ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep the tests that share an expensive fixture on one xdist worker.

    `pytest -n` runs tests in parallel (`--dist loadgroup` in pyproject.toml). A session
    or module fixture is built once per worker that needs it: the set-up `project` costs
    a minute and carries state across its tests, so every test that uses it runs on one
    worker, in file order; so do the tests of a module that share a module fixture.
    Independent tests (each dataset, each bake of its own) spread over the workers.
    """
    for item in items:
        group = _shared_fixture_group(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


def _shared_fixture_group(item: pytest.Item) -> str | None:
    """The name of the expensive fixture scope this test shares, or None if it shares none."""
    if "project" in getattr(item, "fixturenames", ()):
        return "project"
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    for definitions in info.name2fixturedefs.values():
        if any(definition.scope == "module" for definition in definitions):
            return item.module.__name__
    return None
