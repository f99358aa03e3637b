"""The reference profile: what the training data looked like, saved beside the model.

``evaluate`` writes it from the training split and the registry copies it with each
version, so drift is always measured against the data of the model actually served.
Numeric columns keep quantile bin edges with their shares (for PSI) and a bounded,
deterministic sample of values (for the KS test); categorical columns keep the share of
each level; the predictions keep the share of each class (a regressor's predicted values
are profiled like a numeric column). Missing values are a bin of
their own, so a rise in missing values is drift too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from {{ cookiecutter.module_name }}.config import (
    ProfileSettings,
)
from {{ cookiecutter.module_name }}.schema import (
    FeatureSchema,
)

PROFILE_FORMAT = 1
MISSING_BIN = "missing"
# Levels the reference never saw, pooled into one bin (reference share 0).
UNSEEN_LEVEL = "__unseen__"
DIGITS = 6


def bin_edges(values: np.ndarray, bins: int) -> list[float]:
    """Inner edges at the quantiles 1/bins ... (bins-1)/bins; repeated edges merged."""
    present = values[~np.isnan(values)]
    if present.size == 0:
        return []
    quantiles = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])
    return [float(edge) for edge in np.unique(quantiles)]


def numeric_shares(values: np.ndarray, edges: Sequence[float]) -> list[float]:
    """Shares of bins ``(-inf, e1], (e1, e2], ..., (ek, inf)`` and, last, of missing values."""
    values = np.asarray(values, dtype="float64")
    missing = np.isnan(values)
    bins = np.searchsorted(np.asarray(edges, dtype="float64"), values[~missing], side="left")
    counts = [*np.bincount(bins, minlength=len(edges) + 1).tolist(), int(missing.sum())]
    return _shares(counts)


def numeric_labels(edges: Sequence[float]) -> list[str]:
    """Short names of the bins ``numeric_shares`` counts, by upper edge: ``≤ 15`` holds
    the values above the previous edge up to 15."""
    if not edges:
        return ["all values", MISSING_BIN]
    shown = [f"{edge:.4g}" for edge in edges]
    return [*(f"≤ {edge}" for edge in shown), f"> {shown[-1]}", MISSING_BIN]


def categorical_shares(values: Sequence[Any], levels: Sequence[str]) -> dict[str, float]:
    """Share of each reference level, then of all levels it never saw (``__unseen__``)."""
    counts = pd.Series(values, dtype=object).astype(str).value_counts()
    known = {level: int(counts.get(level, 0)) for level in levels}
    unseen = int(counts.sum()) - sum(known.values())
    shares = _shares([*known.values(), unseen])
    return dict(zip([*levels, UNSEEN_LEVEL], shares, strict=True))


def level_shares(values: Sequence[Any]) -> dict[str, float]:
    """Share of each level that occurs, most frequent first (ties by name)."""
    counts = pd.Series(values, dtype=object).astype(str).value_counts()
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    shares = _shares([count for _, count in ordered])
    return {level: share for (level, _), share in zip(ordered, shares, strict=True)}


def sample(values: np.ndarray, size: int) -> list[float]:
    """Up to ``size`` present values, evenly spaced in sorted order: the same every run and
    close to the whole column's distribution (what the KS test compares)."""
    present = np.sort(values[~np.isnan(values)])
    if present.size > size:
        present = present[np.linspace(0, present.size - 1, size).round().astype(int)]
    return [float(value) for value in present]


def build_profile(
    features: pd.DataFrame,
    predictions: Sequence[Any],
    schema: FeatureSchema,
    options: ProfileSettings,
    artifact_sha256: str,
) -> dict[str, Any]:
    """The profile of typed training features and the model's predictions on them."""
    columns: dict[str, Any] = {}
    for name in schema.numeric:
        values = features[name].to_numpy(dtype="float64", na_value=np.nan)
        columns[name] = numeric_profile(values, options)
    for name in schema.categorical:
        columns[name] = {"kind": "categorical", "shares": level_shares(features[name])}
    if schema.is_regression:  # predicted values: bins and a sample, like a numeric column
        prediction = numeric_profile(np.asarray(predictions, dtype="float64"), options)
    else:
        prediction = {"shares": level_shares([str(label) for label in predictions])}
    return {
        "format": PROFILE_FORMAT,
        "artifact_sha256": artifact_sha256,
        "rows": len(features),
        "features": columns,
        "prediction": prediction,
    }


def numeric_profile(values: np.ndarray, options: ProfileSettings) -> dict[str, Any]:
    """Quantile bin edges with their shares (PSI) and a sample of values (KS)."""
    edges = bin_edges(values, options.bins)
    return {
        "kind": "numeric",
        "edges": edges,
        "shares": numeric_shares(values, edges),
        "sample": sample(values, options.sample_size),
    }


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    if total == 0:
        return [0.0] * len(counts)
    return [round(count / total, DIGITS) for count in counts]
