"""Metrics, one definition for training (evaluate), promotion (the gate) and live scores.

Shared so that a live metric and the training metric it is compared with are the same
computation on different rows. Metrics carry scikit-learn's names; which way is better
comes from scikit-learn's scorer registry (``r2`` is a score, ``neg_mean_absolute_error``
says an error is better when lower), so a gate never has to be told.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

import numpy as np

CLASSIFICATION = "classification"
REGRESSION = "regression"
# The metrics reported for every model of a task, gate metric first when it is not listed.
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "f1_weighted")
REGRESSION_METRICS = (
    "r2",
    "mean_absolute_error",
    "root_mean_squared_error",
    "mean_squared_error",
    "median_absolute_error",
    "max_error",
)
# The naive baseline a model must beat: DummyClassifier's and DummyRegressor's strategies
# that need no extra parameter; the first is the default.
BASELINE_STRATEGIES = {
    CLASSIFICATION: ("most_frequent", "prior", "stratified", "uniform"),
    REGRESSION: ("mean", "median"),
}
DEFAULT_METRIC = {CLASSIFICATION: "f1_macro", REGRESSION: "r2"}


class MetricError(ValueError):
    """A metric name that scikit-learn does not know for this task."""


def task_of(estimator: Any) -> str | None:
    """``classification`` or ``regression``, as scikit-learn tags the estimator; None if
    it is neither (a clusterer, a transformer)."""
    from sklearn.base import is_classifier, is_regressor  # local: only training asks

    if is_classifier(estimator):
        return CLASSIFICATION
    if is_regressor(estimator):
        return REGRESSION
    return None


def estimator_class(path: str) -> type:
    """The class a dotted path such as ``sklearn.linear_model.Ridge`` names; ImportError,
    AttributeError or ValueError when it names none."""
    module_name, _, class_name = path.rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)


def configured_task(estimator: str, declared: str | None = None) -> str | None:
    """The task params.yaml asks for: ``schema.task`` when set (``train`` refuses one that
    differs from the estimator's), else what ``model.estimator`` does; None when it names
    no classifier or regressor. Training, adopt and monitoring all decide with this."""
    if declared is not None:
        return declared
    try:
        return task_of(estimator_class(estimator)())
    except (ImportError, AttributeError, ValueError, TypeError):
        return None


@cache
def _scorer_names() -> frozenset[str]:
    from sklearn.metrics import get_scorer_names

    return frozenset(get_scorer_names())


def greater_is_better(metric: str) -> bool:
    """Whether a higher value of ``metric`` is better, from scikit-learn's scorer names: a
    score (``r2``, ``f1_macro``) is listed as it is, an error as ``neg_<name>``."""
    if metric in _scorer_names():
        return True
    if f"neg_{metric}" in _scorer_names():
        return False
    raise MetricError(f"scikit-learn has no scorer named {metric!r} or 'neg_{metric}'")


def improvement(metric: str, model: float, baseline: float) -> float:
    """How much better ``model`` is than ``baseline`` on ``metric`` (positive: better)."""
    return model - baseline if greater_is_better(metric) else baseline - model


def check_metric(metric: str, task: str) -> None:
    """Raise MetricError (saying what to set) unless ``metric`` scores ``task``."""
    known = CLASSIFICATION_METRICS if task == CLASSIFICATION else REGRESSION_METRICS
    if metric in known or (task == REGRESSION and _regression_function(metric) is not None):
        return
    other = REGRESSION if task == CLASSIFICATION else CLASSIFICATION
    what = f"a {other} metric" if metric in _metrics_of(other) else "not a metric we know"
    raise MetricError(
        f"evaluate.metric {metric!r} is {what}, and this model does {task}: set "
        f"evaluate.metric to one of {', '.join(known)} in params.yaml"
    )


def _metrics_of(task: str) -> tuple[str, ...]:
    return CLASSIFICATION_METRICS if task == CLASSIFICATION else REGRESSION_METRICS


def _regression_function(metric: str) -> Any:
    """scikit-learn's function for a regression metric: ``mean_absolute_error`` itself,
    or ``r2_score`` for ``r2``; None if it is not one (or not a scorer)."""
    import sklearn.metrics

    try:
        greater_is_better(metric)
    except MetricError:
        return None
    if metric in CLASSIFICATION_METRICS:
        return None
    function = getattr(sklearn.metrics, metric, None) or getattr(
        sklearn.metrics, f"{metric}_score", None
    )
    return function if callable(function) else None


def score(
    actual: Any, predicted: Any, task: str = CLASSIFICATION, extra: str = ""
) -> dict[str, float]:
    """The metrics reported for every model of ``task`` (and ``extra``, the gate's metric
    when it is not among them), rounded for stable diffs."""
    if task == REGRESSION:
        return _regression_scores(actual, predicted, extra)
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    values = {
        "accuracy": accuracy_score(actual, predicted),
        "balanced_accuracy": balanced_accuracy_score(actual, predicted),
        "f1_macro": f1_score(actual, predicted, average="macro", zero_division=0),
        "f1_weighted": f1_score(actual, predicted, average="weighted", zero_division=0),
    }
    return {name: round(float(value), 6) for name, value in values.items()}


def _regression_scores(actual: Any, predicted: Any, extra: str) -> dict[str, float]:
    actual = np.asarray(actual, dtype="float64")
    predicted = np.asarray(predicted, dtype="float64")
    names = [*REGRESSION_METRICS, *([extra] if extra and extra not in REGRESSION_METRICS else [])]
    values = {}
    for name in names:
        function = _regression_function(name)
        if function is None:
            raise MetricError(f"{name!r} is not a scikit-learn regression metric")
        values[name] = round(float(function(actual, predicted)), 6)
    return values
