"""Three real datasets the generated project has never seen, each from `make adopt` to a
served, promoted model with the project's whole `make test` green.

The data are small copies committed under tests/data (sources and licences in
tests/data/README.md): nothing is downloaded. Slow: each dataset gets a baked project of
its own, set up with `make setup` as a new user would. The binary one is baked with the
non-default answers (no CI, no Docker, no DVC remote, a proprietary licence), is a git
repository before `make setup`, and also runs `make lint` and `make hooks`, so the whole
user path runs on both ends of the options.

The three are independent tests (no shared fixture), so pytest-xdist (`-n auto` in
pyproject.toml) runs them on separate workers. Each reports its journey with the time of
every step (`-rP` shows it; a failure shows the steps so far).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import TEMPLATE, bake, run

pytestmark = pytest.mark.slow

DATA = TEMPLATE / "tests/data"
# The non-default answers; the other two datasets take every default.
OTHER_ANSWERS = {"ci": "none", "docker": "no", "dvc_remote": "none", "license": "Proprietary"}


@dataclass(frozen=True)
class Dataset:
    file: str
    target: str
    task: str  # what adopt must infer
    classes: tuple[str, ...] | None  # the labels the model must keep, as text
    replaces_prod: bool = False  # the sample model is in prod first: NEW_SCHEMA=1 to replace it
    answers: dict[str, str] = field(default_factory=dict)


DATASETS = {
    # An integer target: its labels must stay "0" and "1" from CSV to API, batch and log.
    "binary-int-target": Dataset(
        "breast_cancer.csv", "target", "classification", ("0", "1"), answers=OTHER_ANSWERS
    ),
    # Text categoricals (one with gaps), numeric gaps, rows without a target; in Parquet.
    "multiclass-text-gaps": Dataset(
        "chile.parquet", "vote", "classification", ("A", "N", "U", "Y"), replaces_prod=True
    ),
    "regression": Dataset("diabetes.csv", "target", "regression", None),
}


@dataclass
class Journey:
    """One dataset's project and the steps it went through: (step, seconds), in order."""

    project: Path
    steps: list[tuple[str, float]] = field(default_factory=list)

    def make(
        self, *args: str, check: bool = True, timeout: float = 900, step: str = ""
    ) -> subprocess.CompletedProcess[str]:
        """`make ARGS` with no terminal (as in CI), timed; fails with its output if asked."""
        environment = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
        started = time.monotonic()
        try:
            if check:
                return run(["make", *args], self.project, timeout=timeout, env=environment)
            return subprocess.run(
                ["make", *args],
                cwd=self.project,
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                env=environment,
                check=False,
                timeout=timeout,
            )
        finally:
            self.steps.append((step or args[0], time.monotonic() - started))

    def commit(self, message: str) -> None:
        started = time.monotonic()
        run(["git", "add", "-A"], self.project)
        run(["git", "commit", "--quiet", "-m", message], self.project)
        self.steps.append(("commit", time.monotonic() - started))

    def report(self) -> str:
        total = sum(seconds for _, seconds in self.steps)
        parts = "  ".join(f"{step} {seconds:.0f}s" for step, seconds in self.steps)
        return f"{total:.0f}s: {parts}"


def journey(dataset: Dataset, project: Path) -> Journey:
    """Setup, adopt, train, the whole `make test`, register, promote and serve; a failure
    says which step failed after which steps."""
    trip = Journey(project)
    try:
        return _journey(dataset, trip)
    except AssertionError as error:
        raise AssertionError(f"{error}\n\nsteps so far: {trip.report()}") from None


def _journey(dataset: Dataset, trip: Journey) -> Journey:
    project = trip.project
    trip.make("setup")
    run(["git", "config", "user.name", "Template Tests"], project)
    run(["git", "config", "user.email", "tests@example.com"], project)
    if dataset.replaces_prod:  # the sample model is in prod: the new dataset's model replaces it
        trip.make("train", step="sample-train")
        trip.commit("The sample model")
        trip.make("register", step="sample-register")
        trip.make("promote", "VERSION=v1", "YES=1", step="sample-promote")

    data = DATA / dataset.file
    asked = trip.make("adopt", f"DATA={data}", f"TARGET={dataset.target}", check=False)
    assert asked.returncode != 0, asked.stdout  # no terminal, no YES=1: nothing written
    assert "Nothing written" in asked.stdout
    assert f"predicting {dataset.target!r} is a {dataset.task}" in asked.stdout
    adopted = trip.make("adopt", f"DATA={data}", f"TARGET={dataset.target}", "YES=1").stdout
    assert "params.yaml updated" in adopted
    assert (project / f"data/raw/{dataset.file}.dvc").is_file()

    trip.make("train")
    metadata = json.loads((project / "models/metadata.json").read_text(encoding="utf-8"))
    assert metadata["schema"]["target"] == dataset.target
    assert metadata["task"] == dataset.task
    if dataset.classes is not None:
        assert metadata["classes"] == list(dataset.classes)
    # The project's whole suite, slow tier included, on the user's data.
    result = trip.make("test", timeout=1800)
    assert " passed" in result.stdout
    assert " failed" not in result.stdout
    if dataset.answers:  # the options' other end: lint and every hook pass too
        trip.make("lint")
        run(["git", "add", "--all"], project)
        assert "Failed" not in trip.make("hooks").stdout

    trip.commit(f"Adopt {dataset.file}")
    registered = trip.make("register").stdout
    version = "v2" if dataset.replaces_prod else "v1"
    assert f"Registered {version}.0.0" in registered
    if dataset.replaces_prod:
        refused = trip.make("promote", f"VERSION={version}", "YES=1", check=False)
        assert refused.returncode != 0
        assert "trained on another dataset" in refused.stderr
        assert f"make promote VERSION={version}.0.0 NEW_SCHEMA=1" in refused.stderr
        trip.make("promote", f"VERSION={version}", "NEW_SCHEMA=1", "YES=1")
    else:
        trip.make("promote", f"VERSION={version}", "YES=1")
    served = trip.make("demo").stdout
    assert "HTTP 200" in served
    assert f"Serving model {version}.0.0 (prod" in served
    return trip


@pytest.mark.parametrize("name", list(DATASETS))
def test_adopt_train_test_promote_and_serve_a_real_dataset(
    tmp_path: Path, name: str, record_property: Any
) -> None:
    dataset = DATASETS[name]
    project = bake(tmp_path, **dataset.answers)
    if dataset.answers:  # already a git repository: make setup keeps it
        run(["git", "init", "--quiet"], project)
    trip = journey(dataset, project)
    record_property("steps", trip.report())
    print(f"{name}: {trip.report()}")
