"""A loaded model: the verified pipeline, its metadata and schema, the engine that predicts.

``loader.py`` builds one only from files it has checked against the metadata; everything
that predicts (the server, the batch scorer, the registry's gate) takes it from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

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

    def predict(self, features: pd.DataFrame) -> list[dict[str, Any]]:
        """Predict typed feature rows: one label and class probabilities per row, or a
        regressor's number (a float, no probabilities)."""
        if self.schema.is_regression:
            return [{"prediction": value} for value in self.values(features).tolist()]
        has_probabilities = hasattr(self.pipeline, "predict_proba")
        if self.runtime_choice.onnx is not None:
            labels, probabilities = self.runtime_choice.onnx.predict(features)
        else:
            estimator, transformed = self._final_step(features)
            labels = estimator.predict(transformed)
            probabilities = estimator.predict_proba(transformed) if has_probabilities else None
        result = [{"prediction": str(label)} for label in labels]
        if has_probabilities and probabilities is not None:
            classes = [str(label) for label in self.pipeline.classes_]
            rounded = np.round(np.asarray(probabilities, dtype=np.float64), 6).tolist()
            for row, values in zip(result, rounded, strict=True):
                row["probabilities"] = dict(zip(classes, values, strict=True))
        return result

    def values(self, features: pd.DataFrame) -> np.ndarray:
        """A regressor's predicted values (float64), from the engine in use."""
        if self.runtime_choice.onnx is not None:
            return self.runtime_choice.onnx.values(features).astype(np.float64)
        estimator, transformed = self._final_step(features)
        return np.asarray(estimator.predict(transformed), dtype=np.float64).reshape(-1)

    def _final_step(self, features: pd.DataFrame) -> tuple[Any, Any]:
        """The final estimator and its input: a Pipeline's transforms run once, not once
        for labels and again for probabilities (they are most of a prediction's cost)."""
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
