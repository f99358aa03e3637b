"""Fit one scikit-learn Pipeline (features + estimator) and save it as the artifact.

The estimator decides the task (classification or regression, training/task.py); a
mismatch with params.yaml or the target stops here, before anything is fitted.

The artifact is written with skops, a format that loads without running arbitrary
code, and atomically, so a failed run never replaces a good model with a broken one.
"""

from __future__ import annotations

import logging
from typing import Any

import skops.io as sio
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from {{ cookiecutter.module_name }}.config import (
    Settings,
)
from {{ cookiecutter.module_name }}.storage import atomic_write, read_json
from {{ cookiecutter.module_name }}.training.data import (
    load_split,
    target_values,
)
from {{ cookiecutter.module_name }}.training.features import build_preprocessor
from {{ cookiecutter.module_name }}.training.task import (
    TrainingError,
    build_estimator,
    check_target,
    training_task,
)

__all__ = ["TrainingError", "build_estimator", "build_pipeline", "run_train", "training_task"]

log = logging.getLogger(__name__)


def build_pipeline(settings: Settings) -> Pipeline:
    """The unfitted Pipeline: schema-driven preprocessing, then the estimator."""
    preprocessor = build_preprocessor(settings.feature_schema, settings.model)
    return Pipeline([("features", preprocessor), ("model", build_estimator(settings.model))])


def with_model_params(settings: Settings, params: dict[str, Any]) -> Settings:
    """A copy of the settings whose ``model.params`` are updated with ``params``."""
    model = settings.model.model_copy(update={"params": {**settings.model.params, **params}})
    return settings.model_copy(update={"model": model})


def tuned(settings: Settings) -> Settings:
    """The settings train with: ``model.params`` updated with the best ones ``make tune``
    found when tuning is on (``tune.trials`` > 0), else as they are."""
    if not settings.tune.trials:
        return settings
    path = settings.paths.tune_best
    best = read_json(path) if path.is_file() else {}
    if not best.get("enabled"):
        raise TrainingError(
            f"tune.trials is {settings.tune.trials} but {path} holds no search result: "
            "run make tune (or make train, which runs it first)"
        )
    return with_model_params(settings, best["params"])


def run_train(settings: Settings) -> Pipeline:
    """Stage ``train``: fit on the train split (with the tuned params, if tuning is on) and
    save the whole pipeline."""
    settings = tuned(settings)
    task = training_task(settings)
    features, target = load_split(settings.paths.train_data, settings)
    check_target(target, task, settings)
    pipeline = clone(build_pipeline(settings)).fit(features, target_values(target, task))
    atomic_write(settings.paths.model, lambda path: sio.dump(pipeline, path))
    log.info("train: fitted %s (%s) on %d rows", settings.model.estimator, task, len(features))
    return pipeline
