"""Fit one scikit-learn Pipeline (features + estimator) and save it as the artifact.

The artifact is written with skops, a format that loads without running arbitrary
code, and atomically, so a failed run never replaces a good model with a broken one.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import skops.io as sio
from sklearn.base import ClassifierMixin, clone, is_classifier
from sklearn.pipeline import Pipeline

from {{ cookiecutter.module_name }}.config import ModelSettings, Settings
from {{ cookiecutter.module_name }}.storage import atomic_write, read_json
from {{ cookiecutter.module_name }}.training.data import load_split
from {{ cookiecutter.module_name }}.training.features import build_preprocessor

log = logging.getLogger(__name__)


class TrainingError(ValueError):
    """The model settings in params.yaml cannot produce a model."""


def build_estimator(options: ModelSettings) -> ClassifierMixin:
    """Instantiate ``model.estimator`` (a dotted path) with ``model.params``."""
    module_name, _, class_name = options.estimator.rpartition(".")
    try:
        estimator_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise TrainingError(
            f"model.estimator {options.estimator!r} cannot be imported: give a dotted path "
            "such as sklearn.ensemble.RandomForestClassifier"
        ) from None
    try:
        estimator = estimator_class(**options.params)
    except TypeError as error:
        raise TrainingError(f"model.params do not fit {options.estimator}: {error}") from None
    if not is_classifier(estimator):
        raise TrainingError(f"model.estimator {options.estimator!r} is not a classifier")
    return estimator


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
    features, target = load_split(settings.paths.train_data, settings)
    pipeline = clone(build_pipeline(settings)).fit(features, target)
    atomic_write(settings.paths.model, lambda path: sio.dump(pipeline, path))
    log.info("train: fitted %s on %d rows", settings.model.estimator, len(features))
    return pipeline
