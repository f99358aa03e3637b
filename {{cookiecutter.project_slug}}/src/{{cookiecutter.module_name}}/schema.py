"""The feature schema: the one contract that training and prediction share.

It comes from the ``schema`` section of params.yaml and travels inside every model's
metadata, so a served model always validates requests against the columns it was
trained on, even after params.yaml has moved on.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

# The label of a missing categorical value, given here once for every path: the training
# data, served requests and the ONNX copy of the model (whose converter cannot treat NaN as
# a missing string) all see this level, and one-hot encoding learns it like any other.
MISSING_CATEGORY = "__missing__"


class SchemaError(ValueError):
    """Data does not match the feature schema; the message names the columns at fault."""


class FeatureSchema(BaseModel):
    """Which columns are features (numeric or categorical), which is the target."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = Field(min_length=1)
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    ranges: dict[str, tuple[float, float]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_columns(self) -> FeatureSchema:
        features = [*self.numeric, *self.categorical]
        if not features:
            raise ValueError("list at least one column under schema.numeric or schema.categorical")
        duplicates = sorted({name for name in features if features.count(name) > 1})
        if duplicates:
            raise ValueError(f"columns listed twice in schema: {duplicates}")
        if self.target in features:
            raise ValueError(f"target {self.target!r} is also listed as a feature")
        unknown = sorted(set(self.ranges) - set(self.numeric))
        if unknown:
            raise ValueError(
                f"schema.ranges names columns that are not numeric features: {unknown}"
            )
        for name, (low, high) in self.ranges.items():
            if low > high:
                raise ValueError(f"schema.ranges[{name!r}]: low {low} is above high {high}")
        return self

    @property
    def features(self) -> list[str]:
        """Feature columns in the order the model sees them."""
        return [*self.numeric, *self.categorical]

    def missing_columns(self, columns: Any) -> list[str]:
        """Feature columns absent from ``columns``, in schema order."""
        present = set(columns)
        return [name for name in self.features if name not in present]

    def coerce_features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Select the feature columns and give each the type the pipeline expects.

        Numeric columns become float64 (missing -> NaN); categorical columns become
        strings (missing -> ``MISSING_CATEGORY``). Raises SchemaError naming absent
        columns or values that are not numbers, so bad data never reaches the model
        silently. The frame is built in one go: this runs on every served request.
        """
        missing = self.missing_columns(frame.columns)
        if missing:
            raise SchemaError(f"missing feature columns: {missing}")
        columns = {name: _to_float(frame[name], name) for name in self.numeric}
        for name in self.categorical:
            columns[name] = _to_category_labels(frame[name])
        return pd.DataFrame(columns, index=frame.index, copy=False)


def _to_float(column: pd.Series, name: str) -> np.ndarray:
    """Cast a column to float64, refusing values that are not numbers (booleans included)."""
    if pd.api.types.is_bool_dtype(column.dtype):
        raise SchemaError(f"column {name!r} must be numeric, got booleans")
    if pd.api.types.is_numeric_dtype(column.dtype):  # the common case: nothing to check
        return column.to_numpy(dtype="float64", na_value=np.nan)
    if any(isinstance(value, bool | np.bool_) for value in column.array):
        raise SchemaError(f"column {name!r} must be numeric, got booleans")
    converted = pd.to_numeric(column, errors="coerce").astype("float64")
    bad = column[converted.isna() & column.notna()]
    if len(bad):
        examples = [str(value) for value in bad.unique()[:3]]
        raise SchemaError(f"column {name!r} must be numeric, got {examples}")
    return converted.to_numpy()


def category_label(value: Any) -> str:
    """Turn one categorical value into its string label; missing becomes ``MISSING_CATEGORY``.

    Integral floats lose their ``.0`` so that 1, 1.0 and "1" name the same level
    (pandas reads an integer column with gaps as floats).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return MISSING_CATEGORY
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _to_category_labels(column: pd.Series) -> np.ndarray:
    """Cast a column to an object array of string labels, missing values included."""
    labels = np.empty(len(column), dtype=object)
    labels[:] = [category_label(value) for value in column.array]
    return labels
