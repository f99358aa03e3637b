"""A loaded model: the verified pipeline, its metadata and schema, the engine that predicts.

``loader.py`` builds one only from files it has checked against the metadata; everything
that predicts (the server, the batch scorer, the registry's gate) takes it from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from {{ cookiecutter.module_name }}.onnx_model import (
    Features,
)
from {{ cookiecutter.module_name }}.prediction.engine import (
    SKLEARN_ONLY,
    RuntimeChoice,
)
from {{ cookiecutter.module_name }}.schema import FeatureSchema


class UnscorableRowsError(ValueError):
    """Some rows turn infinite inside the pipeline: their values are too extreme to score."""

    def __init__(self, rows: list[int]) -> None:
        super().__init__(f"rows {rows[:10]} become infinite or NaN inside the pipeline")
        self.rows = rows


@dataclass(frozen=True)
class LoadedModel:
    """A verified pipeline with the metadata it was certified with.

    ``runtime`` says which engine computes predictions: the ONNX copy of the pipeline
    (when it passed its parity gate and params allow it) or the pipeline itself.
    """

    pipeline: Any
    metadata: dict[str, Any]
    schema: FeatureSchema
    runtime_choice: RuntimeChoice = SKLEARN_ONLY

    @property
    def version(self) -> str:
        """The model version every response names."""
        return str(self.metadata["version"])

    @property
    def runtime(self) -> str:
        """The engine in use: ``onnx`` or ``sklearn``."""
        return self.runtime_choice.active

    @property
    def task(self) -> str:
        """``classification`` or ``regression``, as the metadata's schema names it."""
        return "regression" if self.schema.is_regression else "classification"

    @cached_property
    def class_labels(self) -> list[str] | None:
        """The classes, as the keys of each row's probabilities (None: no probabilities)."""
        if self.schema.is_regression or not hasattr(self.pipeline, "predict_proba"):
            return None
        return [str(label) for label in self.pipeline.classes_]

    def predict(self, features: Features) -> list[dict[str, Any]]:
        """Predict typed feature rows (or a request's validated columns): one label and
        class probabilities per row, or a regressor's number (a float, no probabilities)."""
        if self.schema.is_regression:
            return [{"prediction": value} for value in self.values(features).tolist()]
        classes = self.class_labels
        if self.runtime_choice.onnx is not None:
            labels, probabilities = self.runtime_choice.onnx.predict(features)
        else:
            estimator, transformed = self._final_step(features)
            labels = estimator.predict(transformed)
            probabilities = estimator.predict_proba(transformed) if classes else None
        names = list(map(str, np.asarray(labels).tolist()))  # Python, not numpy
        if not classes or probabilities is None:
            return [{"prediction": name} for name in names]
        probabilities = np.asarray(probabilities, dtype=np.float64)
        if probabilities.shape != (len(names), len(classes)):
            raise ValueError(
                f"the model gave probabilities of shape {probabilities.shape} for "
                f"{len(names)} rows and {len(classes)} classes"
            )
        # The shape is checked once above, not per row by zip(strict=True): a tenth of
        # the answer's time for 100 records.
        rounded = probabilities.round(6).tolist()
        return [
            {"prediction": name, "probabilities": dict(zip(classes, values, strict=False))}
            for name, values in zip(names, rounded, strict=False)
        ]

    def values(self, features: Features) -> np.ndarray:
        """A regressor's predicted values (float64), from the engine in use."""
        if self.runtime_choice.onnx is not None:
            return self.runtime_choice.onnx.values(features).astype(np.float64)
        estimator, transformed = self._final_step(features)
        return np.asarray(estimator.predict(transformed), dtype=np.float64).reshape(-1)

    def _final_step(self, features: Features) -> tuple[Any, Any]:
        """The final estimator and its input: a Pipeline's transforms run once, not once
        for labels and again for probabilities (they are most of a prediction's cost)."""
        features = typed_frame(features, self.schema)
        steps = getattr(self.pipeline, "steps", None)
        if not steps or len(steps) < 2:
            return self.pipeline, features
        transformed = self.pipeline[:-1].transform(features)
        try:
            finite = np.isfinite(np.asarray(transformed, dtype="float64")).all(axis=1)
        except (TypeError, ValueError):  # sparse or non-numeric: the estimator will judge
            return steps[-1][1], transformed
        if not finite.all():
            raise UnscorableRowsError(np.flatnonzero(~finite).tolist())
        return steps[-1][1], transformed


def typed_frame(features: Features, schema: FeatureSchema) -> pd.DataFrame:
    """The rows ``schema.coerce_features`` would give, from a request's validated columns
    (numbers or None, string labels): scikit-learn takes a DataFrame. Frames pass as
    they are."""
    if isinstance(features, pd.DataFrame):
        return features
    columns: dict[str, Any] = {}
    for name in schema.features:
        if name in schema.numeric:
            columns[name] = np.array(features[name], dtype="float64")  # None becomes NaN
        else:  # a Series, not an array: pandas would infer its string dtype from an array
            columns[name] = pd.Series(features[name], dtype=object)
    return pd.DataFrame(columns)
