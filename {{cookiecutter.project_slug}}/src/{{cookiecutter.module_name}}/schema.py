"""The feature schema: the one contract that training and prediction share.

It comes from the ``schema`` section of params.yaml and travels inside every model's
metadata, so a served model always validates requests against the columns it was
trained on, even after params.yaml has moved on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype, is_bool_dtype, is_numeric_dtype
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
    # Optional in params.yaml (the estimator decides, and this must agree with it); a
    # model's metadata always names it, so serving, batch and monitoring read it there.
    task: Literal["classification", "regression"] | None = None
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
    def is_regression(self) -> bool:
        """Whether the model predicts a number (models from before tasks are classifiers)."""
        return self.task == "regression"

    @property
    def features(self) -> list[str]:
        """Feature columns in the order the model sees them."""
        return [*self.numeric, *self.categorical]

    def missing_columns(self, columns: Any) -> list[str]:
        """Feature columns absent from ``columns``, in schema order."""
        present = set(columns)
        return [name for name in self.features if name not in present]

    def coerce_features(
        self, frame: pd.DataFrame, *, copy: bool = True, categories: bool = False
    ) -> pd.DataFrame:
        """Select the feature columns and give each the type the pipeline expects.

        Numeric columns become float64 (missing -> NaN); categorical columns become
        strings (missing -> ``MISSING_CATEGORY``). Raises SchemaError naming absent
        columns or values that are not numbers, so bad data never reaches the model
        silently. The frame is built in one go: this runs on every served request.

        ``copy=False`` lets numeric columns share ``frame``'s memory, read-only, for
        callers that never write to the result: copying them was half this method's time
        on a batch chunk (benchmarks/batch.py). ``categories=True`` gives categorical
        columns as pandas categoricals of the same labels, without gaps, for the ONNX
        copy, which takes labels and codes (onnx_model.py); a categorical input keeps its
        codes, so no label is made per row. scikit-learn gets the default, plain labels.
        """
        missing = self.missing_columns(frame.columns)
        if missing:
            raise SchemaError(f"missing feature columns: {missing}")
        columns: dict[str, Any] = {name: _to_float(frame[name], name) for name in self.numeric}
        for name in self.categorical:  # a Series keeps pandas from inferring its "str" dtype
            if categories:
                labels = _to_label_categorical(frame[name])
            else:
                labels = _to_category_labels(frame[name])
            columns[name] = pd.Series(labels, index=frame.index, dtype=labels.dtype, copy=False)
        return pd.DataFrame(columns, index=frame.index, copy=copy)

    def row_problems(self, frame: pd.DataFrame) -> pd.Series:
        """Why each row cannot be scored ("" when it can), so one bad value rejects one row.

        The rules are the API's: a numeric value must be a finite number, a categorical
        one a string or a number, booleans are neither, and missing values are fine (the
        pipeline imputes them). Rows without a problem pass ``coerce_features`` unchanged.
        Check ``missing_columns`` first: a column that is absent fails every row.
        """
        problems = pd.Series("", index=frame.index, dtype=object)
        for name in self.numeric:
            rule = f"column {name!r} must be a number"
            _note(problems, frame[name], _bad_numbers(frame[name]), rule)
        for name in self.categorical:
            rule = f"column {name!r} must be a string"
            _note(problems, frame[name], _bad_labels(frame[name]), rule)
        return problems


def _note(problems: pd.Series, column: pd.Series, bad: np.ndarray, rule: str) -> None:
    """Append ``rule`` and the offending value to the problems of each bad row."""
    for position in np.flatnonzero(bad):
        value = column.iat[position]
        shown = value.item() if isinstance(value, np.generic) else value  # True, not np.True_
        reason = f"{rule}, got {shown!r}"
        before = problems.iat[position]
        problems.iat[position] = f"{before}; {reason}" if before else reason


def _has_only_one_type(column: pd.Series) -> bool:
    """True when no value needs a look of its own: numbers only, or text only."""
    dtype = column.dtype
    if isinstance(dtype, pd.StringDtype) or _is_text(column):
        return True
    return is_numeric_dtype(dtype) and not is_bool_dtype(dtype)


def _is_text(column: pd.Series) -> bool:
    """An object column holding only strings and missing values (as a CSV reader gives)."""
    return column.dtype == object and infer_dtype(column, skipna=True) in ("string", "empty")


def _per_level(column: pd.Series, check: Callable[[pd.Series], np.ndarray]) -> np.ndarray:
    """``check`` of a categorical column, run on its few levels and spread to the rows.

    A Parquet dictionary column or a CSV column read as categories holds each distinct
    value once: checking the levels gives the row-by-row answer in a fraction of the
    time. A missing value (code -1) is never a problem.
    """
    levels = pd.Series(column.cat.categories.to_numpy(dtype=object), dtype=object)
    per_level = check(levels)
    if not per_level.any():  # the usual answer: no row to mark, and no codes to look up
        return np.zeros(len(column), dtype=bool)
    return _by_code(per_level, False, column.cat.codes.to_numpy())


def _by_code(per_level: np.ndarray, missing: Any, codes: np.ndarray) -> np.ndarray:
    """Each row's entry of ``per_level`` by its category code; code -1 gets ``missing``."""
    return np.append(per_level, np.array([missing], dtype=per_level.dtype))[codes]


def _booleans(column: pd.Series) -> np.ndarray:
    """Where a column holds booleans (a whole boolean column, or bools among objects)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return _per_level(column, _booleans)
    if is_bool_dtype(column.dtype):
        return column.notna().to_numpy()
    if _has_only_one_type(column):
        return np.zeros(len(column), dtype=bool)
    return np.fromiter(
        (isinstance(value, bool | np.bool_) for value in column.array), bool, len(column)
    )


def _bad_numbers(column: pd.Series) -> np.ndarray:
    """Where a present value is not a finite number (text, infinity, a boolean)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return _per_level(column, _bad_numbers)
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return (column.notna().to_numpy() & ~np.isfinite(values)) | _booleans(column)


def _bad_labels(column: pd.Series) -> np.ndarray:
    """Where a present value is neither a string nor a number (booleans, lists, ...)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return _per_level(column, _bad_labels)
    if _has_only_one_type(column) or is_bool_dtype(column.dtype):
        return _booleans(column)
    return np.fromiter(
        (
            not (isinstance(value, str | int | float | np.number) or _is_missing(value))
            or isinstance(value, bool | np.bool_)
            for value in column.array
        ),
        bool,
        len(column),
    )


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _to_float(column: pd.Series, name: str) -> np.ndarray:
    """Cast a column to float64, refusing values that are not numbers (booleans included)."""
    if _booleans(column).any():
        raise SchemaError(f"column {name!r} must be numeric, got booleans")
    if is_numeric_dtype(column.dtype):  # the common case: nothing else to check
        return column.to_numpy(dtype="float64", na_value=np.nan)
    converted = pd.to_numeric(column, errors="coerce").astype("float64")
    bad = column[converted.isna() & column.notna()]
    if len(bad):
        examples = [str(value) for value in bad.unique()[:3]]
        raise SchemaError(f"column {name!r} must be numeric, got {examples}")
    return converted.to_numpy()


def category_label(value: Any) -> str:
    """Turn one categorical value into its string label; missing becomes ``MISSING_CATEGORY``.

    The one encoding of categorical values, for every path (training's CSV or Parquet,
    JSON requests, batch files, the prediction log): a whole number names the same level
    whether it arrives as 2, 2.0 or "2", and as "2.0" (the text a float column with gaps
    becomes once written to CSV). Other text is kept as it is ("02" stays "02").
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return MISSING_CATEGORY
    if isinstance(value, str):
        return _text_label(value)
    if isinstance(value, float | np.floating) and value.is_integer():
        return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


# Text of a whole number written as a float: "2.0", "-3.00" (not "2.", "2.5" or "1e3").
_WHOLE_FLOAT_TEXT = re.compile(r"([+-]?[0-9]+)\.0+")


def _text_label(text: str) -> str:
    """``text`` without the ``.0`` of a whole number written as a float ("2.0" -> "2")."""
    if "." not in text:  # the usual case, answered without a regular expression
        return text
    whole = _WHOLE_FLOAT_TEXT.fullmatch(text)
    return whole.group(1) if whole else text


def category_labels(values: Any) -> pd.Series:
    """``category_label`` of each value, as a Series of strings (one call per distinct value)."""
    series = pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values
    codes, levels = pd.factorize(series.astype(object), use_na_sentinel=True)
    labels = [category_label(level) for level in levels]
    return pd.Series(_spread(labels, codes), index=series.index, dtype=object)


def _to_category_labels(column: pd.Series) -> np.ndarray:
    """Cast a column to an object array of string labels, missing values included."""
    if isinstance(column.dtype, pd.StringDtype) or _is_text(column):  # already labels
        if len(column) < _FACTORIZE_FROM_ROWS:
            texts = column.to_numpy(dtype=object, na_value=MISSING_CATEGORY)
            labels = np.empty(len(texts), dtype=object)
            labels[:] = [_text_label(text) for text in texts]
            return labels
        return _labels_by_level(column)
    if isinstance(column.dtype, pd.CategoricalDtype):  # one label per level, as below
        levels = [category_label(value) for value in column.cat.categories]
        return _spread(levels, column.cat.codes.to_numpy())
    labels = np.empty(len(column), dtype=object)
    labels[:] = [category_label(value) for value in column.array]
    return labels


def _to_label_categorical(column: pd.Series) -> pd.Categorical:
    """The labels of ``_to_category_labels`` as a categorical without gaps. A categorical
    input keeps its codes when its levels' labels are distinct (nearly always); a gap
    gets the code of ``MISSING_CATEGORY``, a level added if it is not one already."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        levels = [category_label(value) for value in column.cat.categories]
        codes = column.cat.codes.to_numpy()
        if len(set(levels)) == len(levels):
            if (codes < 0).any():
                if MISSING_CATEGORY not in levels:
                    levels.append(MISSING_CATEGORY)
                missing = levels.index(MISSING_CATEGORY)
                codes = np.where(codes < 0, missing, codes.astype(np.intp))
            return pd.Categorical.from_codes(codes, categories=pd.Index(levels, dtype=object))
    return pd.Categorical(_to_category_labels(column))


# Below this many rows (a served request) the plain conversion is faster than hashing.
_FACTORIZE_FROM_ROWS = 256


def _labels_by_level(column: pd.Series) -> np.ndarray:
    """A text column's labels, one Python string per distinct level rather than per row.

    Converting Arrow-backed text to Python strings row by row was a quarter of a batch
    chunk's scoring time (benchmarks/batch.py); a categorical column has few levels, so
    hashing the rows and sharing one string object per level gives equal labels faster.
    """
    codes, levels = pd.factorize(column, use_na_sentinel=True)
    return _spread([_text_label(level) for level in levels.to_numpy(dtype=object)], codes)


def _spread(levels: Any, codes: np.ndarray) -> np.ndarray:
    """Each row's level label (an object array); code -1, a missing value, gets
    ``MISSING_CATEGORY``."""
    return _by_code(np.asarray(levels, dtype=object), MISSING_CATEGORY, codes)
