"""Infer a feature schema from a dataset: what ``make adopt`` proposes for params.yaml.

The rules are simple on purpose, and each decision comes with its reason, because a
person reviews the proposal before it is written:

- the target's values give the task: text, booleans or a few distinct numbers make a
  classification; numbers with many distinct values a regression;
- numbers are numeric features, text and booleans categorical ones;
- text whose values are nearly all distinct (names, ids) and whole numbers that are all
  distinct and in order (row ids) are left out as identifier-like;
- dates are reported and left out: derive features from them (year, weekday) if useful;
- empty and constant columns are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd
from pandas.api.types import (
    is_bool_dtype,
    is_datetime64_any_dtype,
    is_numeric_dtype,
)

Task = Literal["classification", "regression"]
# A numeric target with more distinct values than this is a quantity, not a class.
MAX_CLASSES = 20
# Text with more distinct values than this share of its rows names rows, not groups.
IDENTIFIER_SHARE = 0.5
# Whole numbers with at most this many distinct values may be codes of a category.
FEW_CODES = 10
# Share of text values that must parse as dates for the column to count as dates.
DATE_SHARE = 0.95
DATE_REASON = "a date: derive features from it (year, weekday, ...) if they matter"


@dataclass
class Inference:
    """The proposed schema and task, with the reason for each column left out."""

    target: str
    task: Task
    classes: int
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)
    dates: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)


class InferenceError(ValueError):
    """The data cannot be adopted as it is; the message says what to change."""


def infer(frame: pd.DataFrame, target: str) -> Inference:
    """Propose features and a task for predicting ``target`` from the other columns."""
    if target not in frame.columns:
        raise InferenceError(
            f"the data has no column {target!r} (TARGET); its columns are {list(frame.columns)}"
        )
    rows = frame[frame[target].notna()]
    if rows.empty:
        raise InferenceError(f"column {target!r} (TARGET) has no values")
    task, classes = infer_task(rows[target])
    inference = Inference(target=target, task=task, classes=classes)
    for name in frame.columns:
        if name == target:
            continue
        kind, reason = column_kind(rows[name])
        if kind == "numeric":
            inference.numeric.append(str(name))
        elif kind == "categorical":
            inference.categorical.append(str(name))
        else:
            inference.left_out[str(name)] = reason
            if kind == "date":
                inference.dates.append(str(name))
        if kind == "numeric" and reason:
            inference.notes[str(name)] = reason
    if not inference.numeric and not inference.categorical:
        raise InferenceError(
            f"no column is usable as a feature: {inference.left_out}; add columns to the data"
        )
    return inference


def infer_task(target: pd.Series) -> tuple[Task, int]:
    """(the task the target's values call for, their number of distinct values)."""
    distinct = int(target.nunique())
    if distinct < 2:
        raise InferenceError(
            f"column {target.name!r} (TARGET) has a single value {target.iloc[0]!r}: "
            "nothing to predict"
        )
    numbers = _as_numbers(target)
    if numbers is not None and distinct > MAX_CLASSES:
        return "regression", distinct
    return "classification", distinct


def column_kind(column: pd.Series) -> tuple[str, str]:
    """("numeric" | "categorical" | "date" | "left out", why) for one feature column."""
    present = column.dropna()
    if present.empty:
        return "left out", "empty: no values"
    if present.nunique() == 1:
        return "left out", f"constant: every value is {present.iloc[0]!r}"
    if is_datetime64_any_dtype(column.dtype):
        return "date", DATE_REASON
    if is_bool_dtype(column.dtype):
        return "categorical", ""
    numbers = _as_numbers(present)
    if numbers is not None:
        whole = bool((numbers % 1 == 0).all())
        if (
            whole
            and numbers.is_unique
            and (numbers.is_monotonic_increasing or numbers.is_monotonic_decreasing)
        ):
            return "left out", "identifier-like: distinct whole numbers in order (a row id?)"
        if whole and numbers.nunique() <= FEW_CODES:
            return "numeric", (
                f"{numbers.nunique()} distinct whole numbers: if they are codes, not "
                "quantities, move the column to schema.categorical"
            )
        return "numeric", ""
    if _looks_like_dates(present):
        return "date", DATE_REASON
    distinct = present.nunique()
    if distinct == len(present) or distinct > IDENTIFIER_SHARE * len(present):
        return "left out", (
            f"identifier-like: {distinct} distinct values in {len(present)} rows "
            "(a name or an id, no group to learn from)"
        )
    return "categorical", ""


def _as_numbers(column: pd.Series) -> pd.Series | None:
    """The column as floats when every present value is a number (not a boolean)."""
    if is_bool_dtype(column.dtype):
        return None
    if is_numeric_dtype(column.dtype):
        return column.dropna().astype("float64")
    present = column.dropna()
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.isna().any():
        return None
    return numbers.astype("float64")


def _looks_like_dates(present: pd.Series) -> bool:
    """True when text values are nearly all dates ("2024-05-01", "05/01/2024 10:00")."""
    if is_numeric_dtype(present.dtype) or is_bool_dtype(present.dtype):
        return False
    sample = present.astype(str).head(1000)
    if not sample.str.contains(r"\d[-/.]\d|\d{4}-\d", regex=True).all():
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= DATE_SHARE)
