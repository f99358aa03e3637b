"""Score the model and a naive baseline on the same test split; enforce the quality gate.

Only a model that passes the gate gets its ``metadata.json``, and the server refuses a
model without one: a model that does not beat "always predict the majority class" can
never be served by accident. A regressor is judged the same way against a
``DummyRegressor`` (predict the mean), with an error metric counted better when lower.
"""

from __future__ import annotations

import logging
import platform
from importlib import metadata as package_metadata
from typing import Any

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier, DummyRegressor

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.monitoring.profile import (
    build_profile,
)
from {{ cookiecutter.module_name }}.scoring import (
    CLASSIFICATION,
    REGRESSION,
    greater_is_better,
    improvement,
    score,
)
from {{ cookiecutter.module_name }}.storage import (
    load_pipeline,
    sha256_file,
    write_json,
)
from {{ cookiecutter.module_name }}.training.data import (
    load_split,
    target_values,
    write_csv,
)
from {{ cookiecutter.module_name }}.training.export import export_onnx
from {{ cookiecutter.module_name }}.training.provenance import (
    training_source,
)
from {{ cookiecutter.module_name }}.training.task import (
    TaskError,
    baseline_strategy,
    estimator_task,
)
from {{ cookiecutter.module_name }}.training.train import tuned

log = logging.getLogger(__name__)

LIBRARIES = ("scikit-learn", "pandas", "numpy", "scipy", "skops")


class QualityGateError(RuntimeError):
    """The model does not beat the baseline by the margin set in params.yaml."""


def gate(model: dict[str, float], baseline: dict[str, float], settings: Settings) -> dict[str, Any]:
    """Compare model and baseline on the gate metric; say whether the margin is met.

    ``improvement`` is positive when the model is better, whichever way the metric goes
    (an error must fall, a score must rise).
    """
    metric = settings.evaluate.metric
    gained = round(improvement(metric, model[metric], baseline[metric]), 6)
    return {
        "metric": metric,
        "greater_is_better": greater_is_better(metric),
        "min_improvement": settings.evaluate.min_improvement,
        "improvement": gained,
        "passed": gained >= settings.evaluate.min_improvement,
    }


def baseline_model(settings: Settings, task: str) -> Any:
    """The naive model to beat: DummyClassifier or DummyRegressor."""
    strategy = baseline_strategy(settings, task)
    if task == REGRESSION:
        return DummyRegressor(strategy=strategy)
    return DummyClassifier(strategy=strategy, random_state=0)


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
    task = training_task_of(pipeline, settings)
    train_target = target_values(train_target, task)
    test_target = target_values(test_target, task)
    predicted = pipeline.predict(test_features)
    baseline = baseline_model(settings, task).fit(train_features, train_target)
    metric = settings.evaluate.metric
    model_scores = score(test_target, predicted, task, metric)
    baseline_scores = score(test_target, baseline.predict(test_features), task, metric)
    verdict = gate(model_scores, baseline_scores, settings)
    metrics = {
        "model": model_scores,
        "baseline": baseline_scores,
        "gate": verdict,
        "rows": {"train": len(train_features), "test": len(test_features)},
    }
    write_json(paths.metrics, metrics)
    write_plots(settings, task, test_target, predicted)
    if not verdict["passed"]:
        paths.metadata.unlink(missing_ok=True)
        raise QualityGateError(
            f"model {verdict['metric']} {model_scores[verdict['metric']]:.4f} does not beat "
            f"the {baseline_strategy(settings, task)} baseline "
            f"{baseline_scores[verdict['metric']]:.4f} by evaluate.min_improvement "
            f"{verdict['min_improvement']} (improvement {verdict['improvement']:.4f}); "
            "no metadata written, so this model cannot be served"
        )
    metadata = build_metadata(settings, metrics, pipeline, test_features, task)
    metadata["onnx"] = export_onnx(pipeline, settings, test_features, task)
    metadata["reference_profile"] = write_reference_profile(
        settings, pipeline, train_features, metadata["artifact"]["sha256"], task
    )
    write_json(paths.metadata, metadata)  # last: the certificate names a complete model
    log.info("evaluate: %s", verdict)
    return metrics


def training_task_of(pipeline: Any, settings: Settings) -> str:
    """The trained pipeline's task, refused if params.yaml now asks for another."""
    try:
        return estimator_task(pipeline, settings)
    except TaskError as error:
        raise QualityGateError(f"{error}; then run `make train`") from None


def write_plots(settings: Settings, task: str, actual: pd.Series, predicted: Any) -> None:
    """Actual vs predicted, for DVC's plots: a classifier's as a confusion matrix
    (``paths.predictions``), a regressor's as a scatter (``paths.predicted_vs_actual``).
    The other task's file holds only its header, so DVC finds both outputs."""
    paths = settings.paths
    pairs = pd.DataFrame({"actual": actual, "predicted": predicted})
    empty = pairs.iloc[:0]
    regression = task == REGRESSION
    write_csv(empty if regression else pairs, paths.predictions)
    write_csv(pairs if regression else empty, paths.predicted_vs_actual)


def write_reference_profile(
    settings: Settings,
    pipeline: Any,
    train_features: pd.DataFrame,
    artifact_sha256: str,
    task: str = CLASSIFICATION,
) -> dict[str, str]:
    """Profile the training data (and the model's predictions on it) for drift monitoring;
    return the entry the metadata certifies it with."""
    path = settings.paths.reference_profile
    profile = build_profile(
        train_features,
        pipeline.predict(train_features),
        settings.feature_schema.model_copy(update={"task": task}),
        settings.monitoring.profile,
        artifact_sha256,
    )
    write_json(path, profile)
    return {"file": path.name, "sha256": sha256_file(path)}


def build_metadata(
    settings: Settings,
    metrics: dict[str, Any],
    pipeline: Any,
    test_features: pd.DataFrame,
    task: str = CLASSIFICATION,
) -> dict[str, Any]:
    """Everything needed to trust, serve and trace the artifact. The schema names the
    task, which serving, batch and monitoring read from here, never from params.yaml."""
    digest = sha256_file(settings.paths.model)
    schema = settings.feature_schema.model_copy(update={"task": task})
    classes = {} if task == REGRESSION else {"classes": [str(c) for c in pipeline.classes_]}
    return {
        "version": digest[:12],
        "artifact": {"file": settings.paths.model.name, "format": "skops", "sha256": digest},
        "task": task,
        "schema": schema.model_dump(mode="json"),
        **classes,
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
