"""Classification or regression: the estimator decides, everything else must agree.

``model.estimator`` is a classifier or a regressor (scikit-learn's own tags say which);
``schema.task``, when set, must name the same task; the metric, the baseline's strategy
and the target's values must fit it. Every mismatch stops ``train`` with one line that
says what to change in params.yaml, before any fitting.
"""

from __future__ import annotations

import pandas as pd
from sklearn.base import BaseEstimator

from {{ cookiecutter.module_name }}.config import (
    ModelSettings,
    Settings,
)
from {{ cookiecutter.module_name }}.scoring import (
    BASELINE_STRATEGIES,
    CLASSIFICATION,
    DEFAULT_METRIC,
    REGRESSION,
    MetricError,
    check_metric,
    estimator_class,
    task_of,
)

# A classifier's target with more distinct numbers than this (and than this share of
# the rows, or any fraction) looks like a quantity to regress, not classes to learn.
MAX_NUMERIC_CLASSES = 20
MAX_CLASS_SHARE = 0.05
SUGGESTED = {
    CLASSIFICATION: "sklearn.linear_model.LogisticRegression",
    REGRESSION: "sklearn.linear_model.Ridge",
}


class TrainingError(ValueError):
    """The model settings in params.yaml cannot produce a model."""


class TaskError(TrainingError):
    """params.yaml asks for a task its estimator, metric or target does not fit."""


def build_estimator(options: ModelSettings) -> BaseEstimator:
    """Instantiate ``model.estimator`` (a dotted path) with ``model.params``."""
    try:
        chosen = estimator_class(options.estimator)
    except (ImportError, AttributeError, ValueError):
        raise TrainingError(
            f"model.estimator {options.estimator!r} cannot be imported: give a dotted path "
            "such as sklearn.ensemble.RandomForestClassifier or sklearn.linear_model.Ridge"
        ) from None
    try:
        estimator = chosen(**options.params)
    except TypeError as error:
        raise TrainingError(f"model.params do not fit {options.estimator}: {error}") from None
    return estimator


def training_task(settings: Settings) -> str:
    """``classification`` or ``regression``: the estimator's, checked against params.yaml."""
    return estimator_task(build_estimator(settings.model), settings)


def estimator_task(estimator: object, settings: Settings) -> str:
    """The estimator's task, checked against ``schema.task``, the metric and baseline."""
    name = settings.model.estimator
    task = task_of(estimator)
    if task is None:
        raise TaskError(
            f"model.estimator {name!r} is neither a classifier nor a regressor: give one "
            f"such as {SUGGESTED[CLASSIFICATION]} or {SUGGESTED[REGRESSION]}"
        )
    declared = settings.feature_schema.task
    if declared is not None and declared != task:
        raise TaskError(
            f"schema.task is {declared} but model.estimator {name!r} does {task}: set "
            f"model.estimator to a {_doer(declared)} (e.g. {SUGGESTED[declared]}) or "
            f"schema.task to {task}"
        )
    try:
        check_metric(settings.evaluate.metric, task)
    except MetricError as error:
        raise TaskError(f"{error} (e.g. {DEFAULT_METRIC[task]})") from None
    strategy = settings.evaluate.baseline_strategy
    if strategy is not None and strategy not in BASELINE_STRATEGIES[task]:
        raise TaskError(
            f"evaluate.baseline_strategy {strategy!r} is not a {task} baseline: set it to one "
            f"of {', '.join(BASELINE_STRATEGIES[task])} in params.yaml"
        )
    return task


def baseline_strategy(settings: Settings, task: str) -> str:
    """The naive baseline's strategy: params.yaml's, else the task's default."""
    return settings.evaluate.baseline_strategy or BASELINE_STRATEGIES[task][0]


def check_target(target: pd.Series, task: str, settings: Settings) -> None:
    """Refuse a target that does not fit the task: text for a regressor, or (unless
    ``schema.task`` says classification) many distinct numbers for a classifier."""
    column, name = settings.feature_schema.target, settings.model.estimator
    present = target.dropna()
    numbers = pd.to_numeric(present, errors="coerce")
    if task == REGRESSION:
        text = present[numbers.isna()]
        if len(text):
            raise TaskError(
                f"model.estimator {name!r} is a regressor but target {column!r} holds text "
                f"(e.g. {text.iloc[0]!r}): choose a classifier (e.g. "
                f"{SUGGESTED[CLASSIFICATION]}) or a numeric schema.target"
            )
        return
    if settings.feature_schema.task == CLASSIFICATION or numbers.isna().any():
        return
    distinct = numbers.nunique()
    fractions = bool((numbers % 1 != 0).any())
    if distinct > MAX_NUMERIC_CLASSES and (fractions or distinct > MAX_CLASS_SHARE * len(numbers)):
        raise TaskError(
            f"model.estimator {name!r} is a classifier but target {column!r} is a number with "
            f"{distinct} distinct values: for regression set model.estimator to a regressor "
            f"(e.g. {SUGGESTED[REGRESSION]}) and evaluate.metric to r2; to learn them as "
            "classes anyway, set schema.task: classification"
        )


def _doer(task: str) -> str:
    return "classifier" if task == CLASSIFICATION else "regressor"
