"""Three real datasets the generated project has never seen, from `make adopt` to a served,
promoted model with the project's tests green.

The data are small copies committed under tests/data (sources and licences in
tests/data/README.md): nothing is downloaded. Slow: each dataset gets a baked project of
its own, set up with `make setup` as a new user would.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers import TEMPLATE, bake, run

pytestmark = pytest.mark.slow

DATA = TEMPLATE / "tests/data"

DATASETS = [
    # file, target, the task adopt must infer, whether prod already serves the sample
    # model (then promotion needs NEW_SCHEMA=1)
    pytest.param("breast_cancer.csv", "target", "classification", False, id="binary-int-target"),
    pytest.param("cars.parquet", "Origin", "classification", True, id="multiclass-text-gaps"),
    pytest.param("diabetes.csv", "target", "regression", False, id="regression"),
]


def make(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`make ARGS` with no terminal (as in CI); fails the test with its output if asked."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    if check:
        return run(["make", *args], project, env=environment)
    return subprocess.run(
        ["make", *args],
        cwd=project,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=environment,
        check=False,
        timeout=900,
    )


def commit(project: Path, message: str) -> None:
    run(["git", "add", "-A"], project)
    run(["git", "commit", "--quiet", "-m", message], project)


@pytest.mark.parametrize(("file", "target", "task", "replaces_prod"), DATASETS)
def test_adopt_train_test_promote_and_serve_a_real_dataset(
    tmp_path: Path, file: str, target: str, task: str, replaces_prod: bool
) -> None:
    project = bake(tmp_path)
    make(project, "setup")
    run(["git", "config", "user.name", "Template Tests"], project)
    run(["git", "config", "user.email", "tests@example.com"], project)
    if replaces_prod:  # the sample model is in prod: the new dataset's model replaces it
        make(project, "train")
        commit(project, "The sample model")
        make(project, "register")
        make(project, "promote", "VERSION=v1", "YES=1")

    data = DATA / file
    asked = make(project, "adopt", f"DATA={data}", f"TARGET={target}", check=False)
    assert asked.returncode != 0  # no terminal, no YES=1: nothing written
    assert "Nothing written" in asked.stdout
    assert f"predicting {target!r} is a {task}" in asked.stdout
    adopted = make(project, "adopt", f"DATA={data}", f"TARGET={target}", "YES=1").stdout
    assert "params.yaml updated" in adopted
    assert (project / f"data/raw/{file}.dvc").is_file()

    make(project, "train")
    metadata = json.loads((project / "models/metadata.json").read_text(encoding="utf-8"))
    assert metadata["schema"]["target"] == target
    # The project's fast tier: every test that reads the data, the model or the schema.
    # The slow tier (fuzzing, gunicorn workers, retraining) runs on the sample project in
    # test_end_to_end.py; per dataset it would cost minutes more than the CI budget allows.
    result = make(project, "test-fast")
    assert " passed" in result.stdout
    assert " failed" not in result.stdout

    commit(project, f"Adopt {file}")
    registered = make(project, "register").stdout
    version = "v2" if replaces_prod else "v1"
    assert f"Registered {version}.0.0" in registered
    if replaces_prod:
        refused = make(project, "promote", f"VERSION={version}", "YES=1", check=False)
        assert refused.returncode != 0
        assert "trained on another dataset" in refused.stderr
        assert f"make promote VERSION={version}.0.0 NEW_SCHEMA=1" in refused.stderr
        make(project, "promote", f"VERSION={version}", "NEW_SCHEMA=1", "YES=1")
    else:
        make(project, "promote", f"VERSION={version}", "YES=1")
    served = make(project, "demo").stdout
    assert "HTTP 200" in served
    assert f"Serving model {version}.0.0 (prod" in served
