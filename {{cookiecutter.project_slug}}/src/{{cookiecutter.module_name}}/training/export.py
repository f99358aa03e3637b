"""Export the fitted Pipeline to ONNX and certify the copy with a parity gate.

The ONNX copy, run by onnxruntime, predicts one row tens of times faster than
scikit-learn (whose per-call input checks dominate small requests). It is only served if,
on the test split and on edge rows (every value missing, each value missing, unseen
categories), it predicts the same classes as scikit-learn and no probability differs by
more than ``inference.onnx_tolerance`` (a regressor: every value within that plus
``inference.onnx_relative_tolerance`` of scikit-learn's). A pipeline skl2onnx cannot convert is not an
error: the model is served by scikit-learn and the metadata records why.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from importlib import metadata as package_metadata
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.onnx_model import (
    CODES_SUFFIX,
    LEVELS_SUFFIX,
    OnnxModel,
    OnnxModelError,
    OnnxRuntimeMissingError,
)
from {{ cookiecutter.module_name }}.schema import FeatureSchema
from {{ cookiecutter.module_name }}.storage import (
    atomic_write,
    sha256_file,
)
from {{ cookiecutter.module_name }}.training.train import TrainingError

log = logging.getLogger(__name__)

ONNX_LIBRARIES = ("skl2onnx", "onnx", "onnxruntime")
UNSEEN_CATEGORY = "__never_seen_in_training__"


class CodedInputsError(Exception):
    """The converted graph could not be given coded categorical inputs."""


@dataclass(frozen=True)
class Parity:
    """How the ONNX copy compares with scikit-learn on the same rows."""

    rows: int
    class_mismatches: int
    max_probability_difference: float
    tolerance: float

    @property
    def passed(self) -> bool:
        """Same class on every row and every probability within the tolerance."""
        return self.class_mismatches == 0 and self.max_probability_difference <= self.tolerance

    def reason(self) -> str | None:
        """Why the copy is refused, or None when it passed."""
        if self.class_mismatches:
            return (
                f"{self.class_mismatches} of {self.rows} rows get another class than scikit-learn"
            )
        if not self.max_probability_difference <= self.tolerance:  # NaN fails too
            return (
                f"a probability differs from scikit-learn's by {self.max_probability_difference:.3g}"
                f", more than inference.onnx_tolerance {self.tolerance:g}"
            )
        return None


@dataclass(frozen=True)
class ValueParity:
    """How a regressor's ONNX copy compares with scikit-learn: the copy computes in
    float32, so a value may differ by ``tolerance`` plus ``relative_tolerance`` of its size."""

    rows: int
    value_mismatches: int
    max_value_difference: float
    tolerance: float
    relative_tolerance: float

    @property
    def passed(self) -> bool:
        """Every value within the absolute plus relative tolerance."""
        return self.value_mismatches == 0

    def reason(self) -> str | None:
        """Why the copy is refused, or None when it passed."""
        if not self.value_mismatches:
            return None
        return (
            f"{self.value_mismatches} of {self.rows} rows get a value further from "
            f"scikit-learn's than inference.onnx_tolerance {self.tolerance:g} plus "
            f"inference.onnx_relative_tolerance {self.relative_tolerance:g} of it (largest "
            f"difference {self.max_value_difference:.3g})"
        )


def check_value_parity(
    pipeline: Pipeline, onnx_model: OnnxModel, features: pd.DataFrame, settings: Settings
) -> ValueParity:
    """Compare a regressor's values from the ONNX copy with scikit-learn's, row by row,
    with plain labels (the server's rows) and with categoricals (a batch's)."""
    expected = np.asarray(pipeline.predict(features), dtype=np.float64).reshape(-1)
    absolute = settings.inference.onnx_tolerance
    relative = settings.inference.onnx_relative_tolerance
    outside = np.zeros(len(features), dtype=bool)
    largest = 0.0
    for typed in (features, onnx_model.schema.coerce_features(features, categories=True)):
        values = onnx_model.values(typed).astype(np.float64)
        if values.shape != expected.shape:
            return ValueParity(len(features), len(features), math.inf, absolute, relative)
        gaps = np.abs(values - expected)
        # NaN compares False: a copy that outputs NaN is outside its tolerance.
        outside |= ~(gaps <= absolute + relative * np.abs(expected))
        largest = float(np.max(gaps, initial=largest))
    return ValueParity(len(features), int(outside.sum()), largest, absolute, relative)


def installed_version(name: str) -> str | None:
    """The installed version of a distribution, None when it is absent."""
    try:
        return package_metadata.version(name)
    except package_metadata.PackageNotFoundError:
        return None


def json_number(value: float) -> float | None:
    """Three significant digits for the metadata; None for NaN or infinity (not JSON)."""
    return float(f"{value:.3g}") if math.isfinite(value) else None


def brief(error: Exception, limit: int = 300) -> str:
    """The first line of an error message, cut short (converters can dump whole models)."""
    text = (str(error).strip().splitlines() or [""])[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def convert(pipeline: Pipeline, schema: FeatureSchema, *, coded: bool = True) -> bytes:
    """The ONNX model (serialized) of a fitted pipeline: one input per numeric column, two
    per categorical one (``coded_text_inputs``; ``coded=False``: one string per row, as
    copies were exported before).

    Raises whatever skl2onnx raises for a pipeline it cannot convert (an estimator
    without a converter, an unsupported option), and CodedInputsError if the converted
    graph cannot take coded inputs; ``export_onnx`` turns either into a reason.
    """
    from skl2onnx import convert_sklearn  # local import: only the export needs the converter
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    inputs = [(name, FloatTensorType([None, 1])) for name in schema.numeric]
    inputs += [(name, StringTensorType([None, 1])) for name in schema.categorical]
    # zipmap off: probabilities come out as one (rows x classes) tensor, not a list of dicts.
    final = pipeline.steps[-1][1]
    options = {id(final): {"zipmap": False}} if hasattr(final, "classes_") else {}
    model = convert_sklearn(pipeline, initial_types=inputs, options=options)
    if not coded:
        return model.SerializeToString()
    try:
        return coded_text_inputs(model)
    except Exception as error:  # onnx's checker and helpers raise several types
        raise CodedInputsError(f"{type(error).__name__}: {brief(error)}") from error


def coded_text_inputs(model: Any) -> bytes:
    """The model (serialized) with each text input ``x`` replaced by two: ``x__levels``,
    the distinct labels, and ``x__codes``, each row's position among them (int64). A
    Gather node rebuilds ``x`` as the first step, so the rest of the graph is unchanged
    and gets the very same strings: onnxruntime then converts a few labels per call
    rather than one Python string per row (onnx_model.py)."""
    from onnx import TensorProto, checker, helper  # local import: only the export needs it

    graph = model.graph
    rebuilt = []
    for position, value in enumerate(list(graph.input)):
        if value.type.tensor_type.elem_type != TensorProto.STRING:
            rebuilt.append(value)
            continue
        levels, codes = value.name + LEVELS_SUFFIX, value.name + CODES_SUFFIX
        rebuilt.append(helper.make_tensor_value_info(levels, TensorProto.STRING, [None]))
        rebuilt.append(helper.make_tensor_value_info(codes, TensorProto.INT64, [None, 1]))
        gather = helper.make_node(
            "Gather", [levels, codes], [value.name], name=f"labels_of_{position}", axis=0
        )
        graph.node.insert(0, gather)
    del graph.input[:]
    graph.input.extend(rebuilt)
    checker.check_model(model)
    return model.SerializeToString()


def edge_rows(schema: FeatureSchema, features: pd.DataFrame) -> pd.DataFrame:
    """Rows that stress the copy: every value missing, each value missing, unseen levels."""
    example = features.iloc[0].to_dict()
    records: list[dict[str, Any]] = [dict.fromkeys(schema.features)]
    records += [{**example, name: None} for name in schema.features]
    if schema.categorical:
        unseen = dict.fromkeys(schema.categorical, UNSEEN_CATEGORY)
        records += [{**example, **unseen}, {**dict.fromkeys(schema.features), **unseen}]
    return schema.coerce_features(pd.DataFrame.from_records(records, columns=schema.features))


def check_parity(
    pipeline: Pipeline, onnx_model: OnnxModel, features: pd.DataFrame, tolerance: float
) -> Parity:
    """Compare classes and probabilities of the ONNX copy with scikit-learn's, row by row.

    The copy is asked twice: with plain labels, as the server passes them, and with
    categoricals, as a batch passes them (labels and their codes, onnx_model.py).
    """
    expected = np.asarray(pipeline.predict(features)).astype(str)
    reference = pipeline.predict_proba(features) if hasattr(pipeline, "predict_proba") else None
    mismatched = np.zeros(len(features), dtype=bool)
    gaps = [0.0]
    for typed in (features, onnx_model.schema.coerce_features(features, categories=True)):
        labels, probabilities = onnx_model.predict(typed)
        mismatched |= labels.astype(str) != expected
        if reference is not None:
            gaps.append(_largest_gap(probabilities, reference))
    # np.max keeps a NaN (a copy that outputs NaN fails) where max() would drop it.
    return Parity(len(features), int(mismatched.sum()), float(np.max(gaps)), tolerance)


def _largest_gap(probabilities: np.ndarray, reference: np.ndarray) -> float:
    """The largest difference between two sets of probabilities; inf if they differ in
    shape, NaN if a probability is not a number."""
    if probabilities.shape != reference.shape:
        return float("inf")
    return float(np.max(np.abs(probabilities.astype(np.float64) - reference), initial=0.0))


def export_onnx(
    pipeline: Pipeline, settings: Settings, test_features: pd.DataFrame, task: str | None = None
) -> dict[str, Any]:
    """Write the ONNX copy beside the model and return its entry for the metadata.

    ``status`` is ``passed`` (the copy may serve), ``failed`` (written, but it disagrees
    with scikit-learn: ``reason`` says how) or ``unavailable`` (skl2onnx cannot convert
    the pipeline; the file is left empty, so DVC still finds its output).
    """
    path = settings.paths.onnx_model
    schema = settings.feature_schema
    if task is not None:
        schema = schema.model_copy(update={"task": task})
    if path.parent != settings.paths.model.parent:  # a model travels as one folder
        raise TrainingError(
            f"paths.onnx_model ({path}) must be in the folder of paths.model "
            f"({settings.paths.model.parent}): the server looks for the ONNX copy beside the model"
        )
    entry: dict[str, Any] = {
        "file": path.name,
        "format": "onnx",
        "libraries": {name: installed_version(name) for name in ONNX_LIBRARIES},
    }
    try:
        serialized = convert(pipeline, schema)
    except Exception as error:  # skl2onnx signals "cannot convert" with many exception types
        if isinstance(error, CodedInputsError):
            reason = f"the converted copy cannot take coded categorical inputs: {error}"
        else:
            # The root cause reads better than a wrapper that dumps the node's attributes.
            cause = error.__cause__ or error.__context__ or error
            kind = type(cause).__name__
            reason = f"skl2onnx cannot convert this pipeline: {kind}: {brief(cause)}"
        log.warning("evaluate: no ONNX copy, scikit-learn will serve (%s)", reason)
        atomic_write(path, lambda temporary: temporary.write_bytes(b""))
        return {**entry, "status": "unavailable", "reason": reason, "sha256": None}
    atomic_write(path, lambda temporary: temporary.write_bytes(serialized))
    entry["sha256"] = sha256_file(path)
    try:
        onnx_model = OnnxModel(path, schema)
    except OnnxRuntimeMissingError as error:
        log.warning("evaluate: ONNX copy not checked, scikit-learn will serve (%s)", error)
        return {**entry, "status": "unavailable", "reason": str(error)}
    except OnnxModelError as error:
        return {**entry, "status": "failed", "reason": str(error)}
    rows = pd.concat([test_features, edge_rows(schema, test_features)], ignore_index=True)
    try:
        return _certify(entry, pipeline, onnx_model, rows, settings)
    except Exception as error:  # onnxruntime's own errors, raised by a copy it cannot run
        reason = f"the ONNX copy fails to run: {type(error).__name__}: {brief(error)}"
        log.warning("evaluate: ONNX copy refused, scikit-learn will serve (%s)", reason)
        return {**entry, "status": "failed", "reason": reason}


def _certify(
    entry: dict[str, Any],
    pipeline: Pipeline,
    onnx_model: OnnxModel,
    rows: pd.DataFrame,
    settings: Settings,
) -> dict[str, Any]:
    """The metadata entry of a copy that opened: its parity gate's verdict and numbers."""
    if onnx_model.schema.is_regression:
        values = check_value_parity(pipeline, onnx_model, rows, settings)
        entry.update(
            status="passed" if values.passed else "failed",
            reason=values.reason(),
            rows=values.rows,
            value_mismatches=values.value_mismatches,
            max_value_difference=json_number(values.max_value_difference),
            tolerance=values.tolerance,
            relative_tolerance=values.relative_tolerance,
        )
        _log_parity(values.passed, values.rows, values.reason())
        return entry
    parity = check_parity(pipeline, onnx_model, rows, settings.inference.onnx_tolerance)
    entry.update(
        status="passed" if parity.passed else "failed",
        reason=parity.reason(),
        rows=parity.rows,
        class_mismatches=parity.class_mismatches,
        max_probability_difference=json_number(parity.max_probability_difference),
        tolerance=parity.tolerance,
    )
    _log_parity(parity.passed, parity.rows, parity.reason())
    return entry


def _log_parity(passed: bool, rows: int, reason: str | None) -> None:
    if passed:
        log.info("evaluate: ONNX copy passed its parity gate on %d rows", rows)
    else:
        log.warning("evaluate: ONNX copy refused, scikit-learn will serve (%s)", reason)
