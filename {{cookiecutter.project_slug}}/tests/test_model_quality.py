"""The model brings value: it beats a naive baseline on held-out data, and the gate bites."""

from __future__ import annotations

from typing import Any

import pytest

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel
from {{ cookiecutter.module_name }}.storage import sha256_file
from {{ cookiecutter.module_name }}.training.evaluate import (
    QualityGateError,
    run_evaluate,
)


def test_model_beats_the_baseline_by_the_configured_margin(
    metrics: dict[str, Any], settings: Settings
) -> None:
    metric = settings.evaluate.metric
    margin = metrics["model"][metric] - metrics["baseline"][metric]
    assert margin >= settings.evaluate.min_improvement
    assert metrics["gate"]["passed"] is True


def test_metadata_certifies_the_artifact(model: LoadedModel, trained: Settings) -> None:
    assert model.metadata["artifact"]["sha256"] == sha256_file(trained.paths.model)
    assert model.metadata["schema"] == trained.feature_schema.model_dump(mode="json")
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
