"""Drift: do the logged requests still look like the model's training data?

Per feature, the Population Stability Index between the reference profile's shares and
the logged shares (numeric columns in the profile's quantile bins, categorical columns by
level, levels never seen in training pooled into one bin; missing values are a bin of
their own): PSI = sum((current - reference) * ln(current / reference)). An empty bin gets
the share ``monitoring.drift.epsilon`` instead of 0 so PSI stays finite. Numeric columns
also get the two-sample Kolmogorov-Smirnov test against the profile's sample. The
predicted classes are compared the same way (PSI), as the model's output can shift when
no single input does; a regressor's predicted values like a numeric column (PSI and KS).

A feature drifts when its PSI reaches ``psi_alert`` or (numeric) its KS p-value falls
below ``ks_pvalue``; ``psi_warn`` only flags it as worth a look.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from {{ cookiecutter.module_name }}.config import (
    DriftSettings,
    PredictionLogSettings,
)
from {{ cookiecutter.module_name }}.monitoring.logs import (
    LoggedRecords,
)
from {{ cookiecutter.module_name }}.monitoring.profile import (
    UNSEEN_LEVEL,
    categorical_shares,
    level_shares,
    numeric_labels,
    numeric_shares,
)
from {{ cookiecutter.module_name }}.monitoring.reference import (
    Reference,
)
from {{ cookiecutter.module_name }}.schema import (
    category_labels,
)

DIGITS = 6
# Unseen levels named in the report (the rest are counted in the __unseen__ bin).
SHOWN_UNSEEN = 10


def psi(reference: Sequence[float], current: Sequence[float], epsilon: float) -> float:
    """Population Stability Index of two share vectors over the same bins."""
    expected = np.clip(np.asarray(reference, dtype="float64"), epsilon, None)
    actual = np.clip(np.asarray(current, dtype="float64"), epsilon, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def status(value: float, drifted: bool, thresholds: DriftSettings) -> str:
    """``drift``, ``warn`` (PSI above psi_warn) or ``ok``."""
    if drifted:
        return "drift"
    return "warn" if value >= thresholds.psi_warn else "ok"


def numeric_drift(
    profile: dict[str, Any], values: pd.Series, thresholds: DriftSettings
) -> dict[str, Any]:
    """PSI over the profile's bins and the KS test against its sample."""
    current_values = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    current = numeric_shares(current_values, profile["edges"])
    value = psi(profile["shares"], current, thresholds.epsilon)
    present = current_values[~np.isnan(current_values)]
    statistic = pvalue = None
    if present.size and profile["sample"]:
        test = ks_2samp(np.asarray(profile["sample"], dtype="float64"), present)
        statistic, pvalue = float(test.statistic), float(test.pvalue)
    drifted = value >= thresholds.psi_alert or (
        pvalue is not None and pvalue < thresholds.ks_pvalue
    )
    trained = np.asarray(profile["sample"], dtype="float64")
    return {
        "kind": "numeric",
        "psi": round(value, DIGITS),
        "ks_statistic": None if statistic is None else round(statistic, DIGITS),
        "ks_pvalue": None if pvalue is None else float(f"{pvalue:.6g}"),
        "drifted": drifted,
        "status": status(value, drifted, thresholds),
        # Which way it moved (findings.py says it in words); the training median is the
        # profile sample's, which is spread evenly over the sorted training values.
        "median": {"reference": _median(trained), "current": _median(present)},
        "missing": {"reference": profile["shares"][-1], "current": current[-1]},
        "bins": {
            "labels": numeric_labels(profile["edges"]),
            "reference": profile["shares"],
            "current": current,
        },
    }


def _median(values: np.ndarray) -> float | None:
    return round(float(np.median(values)), DIGITS) if values.size else None


def categorical_drift(
    profile: dict[str, Any], values: pd.Series, thresholds: DriftSettings
) -> dict[str, Any]:
    """PSI over the reference levels plus one bin for levels training never saw."""
    levels = list(profile["shares"])
    labels = category_labels(values)  # as the model saw them: 2, 2.0 and "2" are one level
    current = categorical_shares(labels, levels)
    reference = [*profile["shares"].values(), 0.0]
    value = psi(reference, list(current.values()), thresholds.epsilon)
    drifted = value >= thresholds.psi_alert
    unseen = labels[~labels.isin(levels)].value_counts()
    return {
        "kind": "categorical",
        "psi": round(value, DIGITS),
        "ks_statistic": None,
        "ks_pvalue": None,
        "drifted": drifted,
        "status": status(value, drifted, thresholds),
        "unseen_levels": [str(level) for level in unseen.index[:SHOWN_UNSEEN]],
        "bins": {
            "labels": [*levels, UNSEEN_LEVEL],
            "reference": reference,
            "current": list(current.values()),
        },
    }


def prediction_drift(
    profile: dict[str, Any], predictions: pd.Series, thresholds: DriftSettings
) -> dict[str, Any]:
    """PSI of the predicted classes' shares against those on the training data; for a
    regressor, PSI over quantile bins of the predicted values and the KS test, as for a
    numeric feature."""
    if profile["prediction"].get("kind") == "numeric":
        values = numeric_drift(profile["prediction"], predictions, thresholds)
        bins = values["bins"]  # shares by bin, keyed like the classes' shares below
        return {
            **values,
            "reference": dict(zip(bins["labels"], bins["reference"], strict=True)),
            "current": dict(zip(bins["labels"], bins["current"], strict=True)),
        }
    reference = profile["prediction"]["shares"]
    # The classes are a categorical column: the same PSI, with an unseen-class bin.
    classes = categorical_drift({"shares": reference}, predictions, thresholds)
    return {
        **{key: classes[key] for key in ("psi", "drifted", "status")},
        "reference": reference,
        "current": level_shares(predictions.astype(str)),
    }


def compare(
    reference: Reference,
    records: LoggedRecords,
    thresholds: DriftSettings,
    log_options: PredictionLogSettings,
) -> dict[str, Any]:
    """The drift report (the schema ``reports/drift.json`` documents) of ``records``."""
    features: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for name, profile in reference.profile["features"].items():
        if name in log_options.hash:
            skipped[name] = "hashed in the log (monitoring.log.hash)"
        elif name not in records.features.columns:
            skipped[name] = "not in the prediction log (monitoring.log.exclude)"
        elif profile["kind"] == "numeric":
            features[name] = numeric_drift(profile, records.features[name], thresholds)
        else:
            features[name] = categorical_drift(profile, records.features[name], thresholds)
    prediction = prediction_drift(reference.profile, records.meta["prediction"], thresholds)
    times = records.meta["time"]
    return {
        "model_version": reference.version,
        "reference": {"rows": int(reference.profile["rows"])},
        "current": {
            "rows": len(records),
            "first": times.min().isoformat() if len(times) else None,
            "last": times.max().isoformat() if len(times) else None,
        },
        "thresholds": thresholds.model_dump(mode="json"),
        "drift_detected": prediction["drifted"] or any(f["drifted"] for f in features.values()),
        "features": features,
        "skipped": skipped,
        "prediction": prediction,
    }
