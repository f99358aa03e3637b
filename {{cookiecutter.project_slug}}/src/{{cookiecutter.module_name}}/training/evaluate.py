"""Score the model and a naive baseline on the same test split; enforce the quality gate.

Only a model that passes the gate gets its ``metadata.json``, and the server refuses a
model without one: a model that does not beat "always predict the majority class" can
never be served by accident.
"""

from __future__ import annotations

import logging
import platform
from importlib import metadata as package_metadata
from typing import Any

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.monitoring.profile import (
    build_profile,
)
from {{ cookiecutter.module_name }}.scoring import (
    score,
)
from {{ cookiecutter.module_name }}.storage import (
    load_pipeline,
    sha256_file,
    write_json,
)
from {{ cookiecutter.module_name }}.training.data import load_split, write_csv
from {{ cookiecutter.module_name }}.training.export import export_onnx
from {{ cookiecutter.module_name }}.training.provenance import (
    training_source,
)
from {{ cookiecutter.module_name }}.training.train import tuned

log = logging.getLogger(__name__)

LIBRARIES = ("scikit-learn", "pandas", "numpy", "scipy", "skops")


class QualityGateError(RuntimeError):
    """The model does not beat the baseline by the margin set in params.yaml."""


def gate(model: dict[str, float], baseline: dict[str, float], settings: Settings) -> dict[str, Any]:
    """Compare model and baseline on the gate metric; say whether the margin is met."""
    metric = settings.evaluate.metric
    improvement = round(model[metric] - baseline[metric], 6)
    return {
        "metric": metric,
        "min_improvement": settings.evaluate.min_improvement,
        "improvement": improvement,
        "passed": improvement >= settings.evaluate.min_improvement,
    }


def input_example(features: pd.DataFrame) -> dict[str, Any]:
    """The first test row as a JSON-ready request record (missing values become null)."""
    row = features.iloc[0]
    return {
        name: (None if pd.isna(value) else value.item() if isinstance(value, np.generic) else value)
        for name, value in row.items()
    }


def library_versions() -> dict[str, str]:
    """Versions that must match at serving time for the artifact to behave the same."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        versions[name] = package_metadata.version(name)
    return versions


def run_evaluate(settings: Settings) -> dict[str, Any]:
    """Stage ``evaluate``: write metrics and plots; certify the model with metadata."""
    paths = settings.paths
    train_features, train_target = load_split(paths.train_data, settings)
    test_features, test_target = load_split(paths.test_data, settings)
    pipeline = load_pipeline(paths.model, settings.serving.trusted_types)
    predicted = pipeline.predict(test_features)
    baseline = DummyClassifier(strategy=settings.evaluate.baseline_strategy, random_state=0)
    baseline.fit(train_features, train_target)
    model_scores = score(test_target, predicted)
    baseline_scores = score(test_target, baseline.predict(test_features))
    verdict = gate(model_scores, baseline_scores, settings)
    metrics = {
        "model": model_scores,
        "baseline": baseline_scores,
        "gate": verdict,
        "rows": {"train": len(train_features), "test": len(test_features)},
    }
    write_json(paths.metrics, metrics)
    write_csv(pd.DataFrame({"actual": test_target, "predicted": predicted}), paths.predictions)
    if not verdict["passed"]:
        paths.metadata.unlink(missing_ok=True)
        raise QualityGateError(
            f"model {verdict['metric']} {model_scores[verdict['metric']]:.4f} does not beat "
            f"the {settings.evaluate.baseline_strategy} baseline "
            f"{baseline_scores[verdict['metric']]:.4f} by evaluate.min_improvement "
            f"{verdict['min_improvement']} (improvement {verdict['improvement']:.4f}); "
            "no metadata written, so this model cannot be served"
        )
    metadata = build_metadata(settings, metrics, pipeline, test_features)
    metadata["onnx"] = export_onnx(pipeline, settings, test_features)
    metadata["reference_profile"] = write_reference_profile(
        settings, pipeline, train_features, metadata["artifact"]["sha256"]
    )
    write_json(paths.metadata, metadata)  # last: the certificate names a complete model
    log.info("evaluate: %s", verdict)
    return metrics


def write_reference_profile(
    settings: Settings, pipeline: Any, train_features: pd.DataFrame, artifact_sha256: str
) -> dict[str, str]:
    """Profile the training data (and the model's predictions on it) for drift monitoring;
    return the entry the metadata certifies it with."""
    path = settings.paths.reference_profile
    profile = build_profile(
        train_features,
        pipeline.predict(train_features),
        settings.feature_schema,
        settings.monitoring.profile,
        artifact_sha256,
    )
    write_json(path, profile)
    return {"file": path.name, "sha256": sha256_file(path)}


def build_metadata(
    settings: Settings, metrics: dict[str, Any], pipeline: Any, test_features: pd.DataFrame
) -> dict[str, Any]:
    """Everything needed to trust, serve and trace the artifact."""
    digest = sha256_file(settings.paths.model)
    return {
        "version": digest[:12],
        "artifact": {"file": settings.paths.model.name, "format": "skops", "sha256": digest},
        "schema": settings.feature_schema.model_dump(mode="json"),
        "classes": [str(label) for label in pipeline.classes_],
        "metrics": metrics,
        "params": {
            "model": tuned(settings).model.model_dump(mode="json"),  # the params it was fit with
            "split": settings.split.model_dump(mode="json"),
            "evaluate": settings.evaluate.model_dump(mode="json"),
        },
        "libraries": library_versions(),
        "source": training_source(settings),
        "input_example": input_example(test_features),
    }
