"""Drift and live scores in plain words: one sentence per finding, then what to do.

Every report (``make drift``, ``reports/drift.html``, ``/dashboard``, ``make scores``)
opens with these sentences; the numbers follow for whoever wants them. They are built
from the statistics the reports already hold: per numeric feature the training and live
medians and missing shares, per categorical feature the share of each level, per model
version the live and training metrics. Each names the feature, which way it moved, how
much, and since when (the first logged record compared).
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from typing import Any

from {{ cookiecutter.module_name }}.monitoring.profile import (
    UNSEEN_LEVEL,
)
from {{ cookiecutter.module_name }}.scoring import (
    greater_is_better,
)

# A level or class is named when its share moved by at least this much (absolute).
SHARE_CHANGE = 0.05
SHOWN_LEVELS = 2
# Missing values are named when their share moved by at least this much.
MISSING_CHANGE = 0.05
# Beside more missing values, a median is said to move only by at least this (relative).
MEDIAN_CHANGE = 0.05


def since(moment: str | None) -> str:
    """``since 2030-01-05 12:00 UTC`` from an ISO time (the first record compared)."""
    if not moment:
        return "in the records compared"
    try:
        parsed = datetime.fromisoformat(moment)
    except ValueError:
        return f"since {moment}"
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return f"since {parsed.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _number(value: float) -> str:
    return f"{value:.4g}"


def _percent(share: float) -> str:
    return f"{100 * share:.0f}%"


def _change(reference: float, current: float) -> str:
    """``+12%`` of the training value, or the absolute change when that is 0."""
    if reference:
        return f"{100 * (current - reference) / abs(reference):+.0f}%"
    return f"{current - reference:+.4g}"


def numeric_sentence(name: str, feature: dict[str, Any], start: str) -> str:
    """Which way a numeric feature moved (median), how much, and missing values."""
    median = feature.get("median") or {}
    reference, current = median.get("reference"), median.get("current")
    missing = feature.get("missing") or {}
    was, now = missing.get("reference", 0.0), missing.get("current", 0.0)
    more_missing = abs(now - was) >= MISSING_CHANGE
    parts = []
    moved = reference is not None and current is not None and current != reference
    if moved and more_missing and reference:  # a small move beside missing values is noise
        moved = abs(current - reference) / abs(reference) >= MEDIAN_CHANGE
    if moved:
        way = "up" if current > reference else "down"
        parts.append(
            f"moved {way}: its median is {_number(current)} in live requests against "
            f"{_number(reference)} in training ({_change(reference, current)})"
        )
    if more_missing:
        parts.append(
            f"is missing in {_percent(now)} of live requests against {_percent(was)} in training"
        )
    if not parts:
        where = f" (its median stays {_number(current)})" if current is not None else ""
        parts.append(f"changed its spread{where}: see its chart")
    return f"{name} {' and '.join(parts)}, {start}."


def _levels(labels: list[str], reference: list[float], current: list[float]) -> list[tuple]:
    """(label, reference share, current share) of the levels, biggest change first."""
    rows = list(zip(labels, reference, current, strict=True))
    return sorted(rows, key=lambda row: -abs(row[2] - row[1]))


def _level(label: str, unseen: list[str]) -> str:
    if label == UNSEEN_LEVEL:
        examples = ", ".join(repr(level) for level in unseen[:SHOWN_LEVELS])
        return "values never seen in training" + (f" ({examples})" if examples else "")
    return repr(label)


def categorical_sentence(name: str, feature: dict[str, Any], start: str) -> str:
    """Which categories grew and which shrank, with their shares."""
    bins, unseen = feature["bins"], feature.get("unseen_levels", [])
    moved = _levels(bins["labels"], bins["reference"], bins["current"])
    grew = [row for row in moved if row[2] - row[1] >= SHARE_CHANGE][:SHOWN_LEVELS]
    shrank = [row for row in moved if row[1] - row[2] >= SHARE_CHANGE][:SHOWN_LEVELS]
    parts = []
    if grew:
        parts.append(
            "more "
            + " and ".join(
                f"{_level(label, unseen)} ({_percent(now)} of live requests against "
                f"{_percent(was)} in training)"
                for label, was, now in grew
            )
        )
    if shrank:
        parts.append(
            "fewer "
            + " and ".join(
                f"{_level(label, unseen)} ({_percent(now)} against {_percent(was)})"
                for label, was, now in shrank
            )
        )
    if not parts:
        parts.append("changed its mix of categories a little in many places: see its chart")
    return f"{name}: {'; '.join(parts)}, {start}."


def prediction_sentence(prediction: dict[str, Any], start: str) -> str:
    """Which answers the model gives more (or less) often than on its training data."""
    labels = list(dict.fromkeys([*prediction["reference"], *prediction["current"]]))
    reference = [prediction["reference"].get(label, 0.0) for label in labels]
    current = [prediction["current"].get(label, 0.0) for label in labels]
    # The class that grew most: a shift between two classes is said once, as a gain.
    rows = zip(labels, reference, current, strict=True)
    label, was, now = max(rows, key=lambda row: row[2] - row[1])
    way = "more" if now > was else "less"
    return (
        f"The model's answers moved: it predicts {label!r} {way} often, for {_percent(now)} "
        f"of live requests against {_percent(was)} of the training data, {start}."
    )


def drift_findings(report: dict[str, Any]) -> list[str]:
    """One sentence per drifted feature (and the predictions), or one saying all is well."""
    current = report["current"]
    start = since(current.get("first"))
    found = []
    for name, feature in report["features"].items():
        if not feature["drifted"]:
            continue
        if feature["kind"] == "numeric":
            found.append(numeric_sentence(name, feature, start))
        else:
            found.append(categorical_sentence(name, feature, start))
    if report["prediction"]["drifted"]:
        found.append(prediction_sentence(report["prediction"], start))
    if not found:
        found.append(
            f"No drift: the {current['rows']} live requests to model {report['model_version']} "
            f"{start} look like its training data."
        )
    worth = [name for name, f in report["features"].items() if f["status"] == "warn"]
    if worth:
        found.append(
            f"Worth a look, though below the alert threshold: {', '.join(worth)} (see the charts)."
        )
    return found


def drift_next_steps(
    report: dict[str, Any],
    prediction_log: str,
    rollback_to: str | None,
    charts: str = "the HTML drift report",
) -> list[str]:
    """What to do about drift, each with the exact command (none without drift)."""
    if not report["drift_detected"]:
        return []
    drifted = [name for name, f in report["features"].items() if f["drifted"]] or ["predictions"]
    reason = shlex.quote(f"drift in {', '.join(drifted)}")
    steps = [
        f"Look at the data: the charts in {charts} compare training with live requests per "
        "feature; the last logged requests are in the prediction log: "
        f"`tail -n 5 {shlex.quote(prediction_log)}`.",
        "If the world changed (new customers, a new season) and the training data should "
        "follow: retrain on fresh data with `make retrain`, then promote the candidate it "
        "registers.",
    ]
    if rollback_to:
        steps.append(
            f"If this began when model {report['model_version']} went into prod (see `make "
            f"models`): put {rollback_to} back with `make rollback REASON={reason}`."
        )
    else:
        steps.append(
            "If the requests are wrong (a broken upstream system, a unit change), fix them at "
            "the source: no earlier version is there to roll back to."
        )
    return steps


def score_findings(report: dict[str, Any]) -> list[str]:
    """One sentence per model version: its live metric against training, and the verdict."""
    metric, tolerance = report["metric"], report["tolerance"]
    found = []
    for version, entry in report["versions"].items():
        start = since(entry.get("first"))
        live, trained = entry["live"].get(metric), entry["training"].get(metric)
        if trained is None or live is None:
            found.append(
                f"Model {version}: no verdict: its training {metric} is unknown (not in the "
                f"model store), {entry['rows']} labelled requests {start}."
            )
            continue
        way = "down" if live < trained else "up" if live > trained else "unchanged"
        worse = "below" if greater_is_better(metric) else "above"  # an error grows when worse
        verdict = (
            f"more than the tolerance {tolerance} {worse} training: retrain (`make retrain`) or "
            "roll back (`make rollback`)"
            if entry["degraded"]
            else "within the tolerance: nothing to do"
        )
        found.append(
            f"Model {version}: {metric} is {way}, {live:.4f} on {entry['rows']} labelled live "
            f"requests against {trained:.4f} at training ({live - trained:+.4f}), {start}: "
            f"{verdict}."
        )
    return found


def drift_text(report: dict[str, Any]) -> str:
    """The drift report as text (the terminal, a mail): findings, steps, then the numbers."""
    lines = [*report.get("findings", []), *(f"- {step}" for step in report.get("next_steps", []))]
    lines.append("")
    for name, feature in report["features"].items():
        ks = "" if feature["ks_pvalue"] is None else f"  KS p {feature['ks_pvalue']:.3g}"
        lines.append(
            f"{name:<24} {feature['kind']:<12} PSI {feature['psi']:.4f}{ks}  {feature['status']}"
        )
    prediction = report["prediction"]
    numeric = prediction.get("kind") == "numeric"  # a regressor's values
    ks = f"  KS p {prediction['ks_pvalue']:.3g}" if prediction.get("ks_pvalue") is not None else ""
    lines.append(
        f"{'predictions':<24} {'values' if numeric else 'classes':<12} PSI "
        f"{prediction['psi']:.4f}{ks}  {prediction['status']}"
    )
    return "\n".join(lines)
