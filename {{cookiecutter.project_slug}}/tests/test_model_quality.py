"""The model brings value: it beats a naive baseline on held-out data, and the gate bites."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel
from {{ cookiecutter.module_name }}.scoring import (
    improvement,
)
from {{ cookiecutter.module_name }}.storage import sha256_file
from {{ cookiecutter.module_name }}.training.evaluate import (
    QualityGateError,
    run_evaluate,
)
from {{ cookiecutter.module_name }}.training.provenance import (
    md5_data,
    training_source,
)


def test_model_beats_the_baseline_by_the_configured_margin(
    metrics: dict[str, Any], settings: Settings
) -> None:
    metric = settings.evaluate.metric
    margin = improvement(metric, metrics["model"][metric], metrics["baseline"][metric])
    assert margin >= settings.evaluate.min_improvement
    assert metrics["gate"]["passed"] is True


def test_metadata_certifies_the_artifact(model: LoadedModel, trained: Settings) -> None:
    assert model.metadata["artifact"]["sha256"] == sha256_file(trained.paths.model)
    # The metadata's schema is params.yaml's, naming the task the estimator decided.
    task = model.metadata["task"]
    assert task in ("classification", "regression")
    expected = trained.feature_schema.model_copy(update={"task": task})
    assert model.metadata["schema"] == expected.model_dump(mode="json")
    assert set(model.metadata["libraries"]) >= {"python", "scikit-learn", "pandas"}
    assert model.metadata["metrics"]["gate"]["passed"] is True


def test_gate_fails_and_withholds_metadata_when_margin_is_unreachable(
    trained: Settings, tmp_path
) -> None:
    impossible = trained.model_copy(
        update={"evaluate": trained.evaluate.model_copy(update={"min_improvement": 1.01})}
    ).with_paths(
        metadata=tmp_path / "metadata.json",
        metrics=tmp_path / "metrics.json",
        predictions=tmp_path / "predictions.csv",
    )
    (tmp_path / "metadata.json").write_text("{}", encoding="utf-8")  # a stale certificate
    with pytest.raises(QualityGateError, match="does not beat"):
        run_evaluate(impossible)
    assert not (tmp_path / "metadata.json").exists()
    assert (tmp_path / "metrics.json").exists()  # the failing numbers are still reported


def test_metadata_names_the_code_and_data_that_made_it(
    model: LoadedModel, trained: Settings
) -> None:
    source = model.metadata["source"]
    raw = trained.paths.raw_data
    if raw.is_dir():  # a folder of files: one md5 over their paths and md5s
        expected = md5_data(raw)
    else:
        expected = hashlib.md5(raw.read_bytes(), usedforsecurity=False).hexdigest()
    assert list(source["data_md5"].values()) == [expected]
    commit = source["git_commit"]
    assert commit is None or re.fullmatch(r"[0-9a-f]{40}", commit), commit
    assert (source["git_dirty"] is None) == (commit is None)


def test_training_source_records_the_commit_and_a_dirty_tree(
    trained: Settings, tmp_path: Path
) -> None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", *args],
            cwd=tmp_path, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip

    git("init", "--quiet")
    (tmp_path / "code.py").write_text("x = 1\n", encoding="utf-8")
    git("add", "code.py")
    git("commit", "--quiet", "-m", "code")
    settings = trained.model_copy(update={"root": tmp_path})
    clean = training_source(settings)
    assert clean["git_commit"] == git("rev-parse", "HEAD")
    assert clean["git_dirty"] is False
    (tmp_path / "code.py").write_text("x = 2\n", encoding="utf-8")
    assert training_source(settings)["git_dirty"] is True
