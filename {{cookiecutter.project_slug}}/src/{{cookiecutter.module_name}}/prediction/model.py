"""Load a model artifact only after checking it against its metadata; predict records."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from {{ cookiecutter.module_name }}.prediction.engine import (
    SKLEARN_ONLY,
    RuntimeChoice,
    RuntimeChoiceError,
    choose_runtime,
)
from {{ cookiecutter.module_name }}.schema import FeatureSchema
from {{ cookiecutter.module_name }}.storage import (
    UntrustedArtifactError,
    load_pipeline,
    read_json,
    sha256_file,
)


class ModelLoadError(RuntimeError):
    """The artifact is missing, does not match its metadata, or cannot be loaded."""


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

    def predict(self, features: pd.DataFrame) -> list[dict[str, Any]]:
        """Predict typed feature rows: one label and class probabilities per row."""
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


def load_model(
    model_path: Path,
    metadata_path: Path,
    extra_trusted: tuple[str, ...] = (),
    runtime: str = "auto",
) -> LoadedModel:
    """Read metadata, verify the artifact's sha256 against it, then load the pipeline.

    ``runtime`` is ``inference.runtime`` from params.yaml: ``auto`` also opens the ONNX
    copy (verified the same way) when it passed its parity gate at export.
    """
    if not Path(metadata_path).is_file():
        raise ModelLoadError(
            f"no model metadata at {metadata_path}: train and certify a model with "
            "`make train` (dvc repro); a model that failed the quality gate has none"
        )
    if not Path(model_path).is_file():
        raise ModelLoadError(f"no model artifact at {model_path}: run `make train`")
    try:
        metadata = read_json(metadata_path)
        expected = metadata["artifact"]["sha256"]
        schema = FeatureSchema.model_validate(metadata["schema"])
        if not metadata.get("version"):
            raise KeyError("version")
    except (ValueError, KeyError, TypeError) as error:
        raise ModelLoadError(
            f"metadata {metadata_path} is unreadable or incomplete: {error}"
        ) from None
    actual = sha256_file(model_path)
    if actual != expected:
        raise ModelLoadError(
            f"artifact {model_path} has sha256 {actual[:12]}… but its metadata expects "
            f"{expected[:12]}…: the file was changed or replaced; retrain with `make train`"
        )
    try:
        pipeline = load_pipeline(model_path, extra_trusted)
    except UntrustedArtifactError as error:
        raise ModelLoadError(str(error)) from None
    except Exception as error:  # a corrupt archive can fail in many ways inside skops
        raise ModelLoadError(f"artifact {model_path} cannot be loaded: {error}") from None
    try:
        choice = choose_runtime(model_path, metadata, schema, runtime)
    except RuntimeChoiceError as error:
        raise ModelLoadError(str(error)) from None
    return LoadedModel(pipeline=pipeline, metadata=metadata, schema=schema, runtime_choice=choice)
