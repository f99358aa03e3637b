"""Regression beside classification, end to end on a baked, set-up project.

Both tests share the session's trained project (tests/conftest.py) and never change its
state: the regression run reads a params file of its own, in a temporary folder, with
every output there; the estimator matrix writes into temporary folders too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import DEFAULT_MODULE, TEMPLATE, run
from test_end_to_end import gunicorn, http

pytestmark = pytest.mark.slow

MATRIX = TEMPLATE / "benchmarks/estimator_matrix.py"
# The sample's numeric target: docs/data.md's "Classification or regression" example.
TARGET = "body_mass_g"


def regression_params(project: Path, folder: Path) -> Path:
    """The project's params.yaml with the three changes docs/data.md lists, the raw data
    read where it is, and every output in ``folder``."""
    params = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))
    params["paths"]["raw_data"] = str(project / params["paths"]["raw_data"])
    schema = params["schema"]
    schema["target"] = TARGET
    schema["numeric"].remove(TARGET)
    schema["ranges"].pop(TARGET, None)
    params["model"]["estimator"] = "sklearn.linear_model.Ridge"
    params["model"]["params"] = {"alpha": 1.0}
    params["evaluate"]["metric"] = "r2"
    params["evaluate"]["baseline_strategy"] = "mean"
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return path


def test_ridge_on_a_numeric_target_trains_and_serves_a_number(
    project: Path, tmp_path: Path
) -> None:
    params = regression_params(project, tmp_path)
    env = {**os.environ, f"{DEFAULT_MODULE.upper()}_PARAMS": str(params)}
    python = str(project / ".venv/bin/python")
    run([python, "-m", f"{DEFAULT_MODULE}.training", "all"], project, env=env)
    metadata = json.loads((tmp_path / "models/metadata.json").read_text(encoding="utf-8"))
    assert metadata["task"] == "regression"
    assert metadata["metrics"]["gate"]["passed"] is True
    assert metadata["onnx"]["status"] == "passed", metadata["onnx"]
    with gunicorn(project, {f"{DEFAULT_MODULE.upper()}_PARAMS": str(params)}) as base:
        record = metadata["input_example"]
        status, body = http("POST", f"{base}/predict", json.dumps(record).encode())
        assert status == 200, body
        (prediction,) = body["predictions"]
        assert set(prediction) == {"prediction"}
        assert isinstance(prediction["prediction"], float)
        assert 2000 < prediction["prediction"] < 7000  # grams, as a penguin weighs
        _, document = http("GET", f"{base}/openapi.json")
        schema = document["components"]["schemas"]["Prediction"]
        assert schema["properties"] == {
            "prediction": {"type": "number", "description": "the predicted value"}
        }
    # A classifier left on the numeric target stops at train, saying what to change.
    params_text = params.read_text(encoding="utf-8").replace(
        "sklearn.linear_model.Ridge", "sklearn.linear_model.LogisticRegression"
    )
    params.write_text(params_text.replace("alpha: 1.0", "C: 1.0"), encoding="utf-8")
    result = subprocess.run(
        [python, "-m", f"{DEFAULT_MODULE}.training", "train"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "evaluate.metric 'r2' is a regression metric" in result.stderr.strip().splitlines()[-1]


def test_every_estimator_of_the_matrix_trains_with_onnx_or_a_reason(project: Path) -> None:
    """LogisticRegression, Ridge, ElasticNet, random forests, gradient boosting and
    histogram gradient boosting, for both tasks where they exist, from params alone."""
    # -P: the benchmarks folder (which holds an onnx.py) must not shadow the onnx package.
    # One OpenMP thread: histogram gradient boosting's threads only fight on 2 shared cores.
    result = subprocess.run(
        [str(project / ".venv/bin/python"), "-P", str(MATRIX), DEFAULT_MODULE],
        cwd=project,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    sys.stdout.write(result.stdout)
    assert len(rows) == 9
    assert {row["task"] for row in rows} == {"classification", "regression"}
    for row in rows:
        assert "error" not in row, row
        assert row["gate_passed"] is True, row
        assert row["onnx"] in ("passed", "failed", "unavailable"), row
        if row["onnx"] != "passed":
            assert row["reason"], row  # scikit-learn serves, and the metadata says why
    linear = {row["estimator"].rpartition(".")[2]: row["onnx"] for row in rows}
    assert linear["LogisticRegression"] == linear["Ridge"] == "passed"
