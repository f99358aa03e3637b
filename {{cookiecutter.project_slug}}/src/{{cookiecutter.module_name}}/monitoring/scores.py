"""Live scores: once true labels arrive, how well did the served model do?

The labels file is a CSV with a ``request_id`` column (the id each /predict answer
carries), an optional ``record`` column (the record's index in its request; 0 when
absent) and the target column named as in ``schema.target``. Each label is joined to its
logged prediction; metrics are computed per model version on the matched rows and
compared with that version's training metrics (its metadata). If a client reused an
``X-Request-ID``, the last logged record with that id and index is the one scored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from {{ cookiecutter.module_name }}.config import (
    Settings,
)
from {{ cookiecutter.module_name }}.monitoring.findings import (
    score_findings,
)
from {{ cookiecutter.module_name }}.monitoring.logs import (
    LoggedRecords,
)
from {{ cookiecutter.module_name }}.monitoring.reference import (
    MonitoringError,
    version_metadata,
)
from {{ cookiecutter.module_name }}.schema import category_labels
from {{ cookiecutter.module_name }}.scoring import (
    CLASSIFICATION,
    REGRESSION,
    configured_task,
    greater_is_better,
    improvement,
    score,
)

KEYS = ["request_id", "record"]
SHOWN = 5


def read_labels(path: Path, target: str) -> pd.DataFrame:
    """The labels file as ``request_id``, ``record``, ``label`` (all checked)."""
    if not Path(path).is_file():
        raise MonitoringError(f"labels file {path} not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise MonitoringError(f"could not read {path} as CSV: {error}") from None
    absent = [name for name in ("request_id", target) if name not in frame.columns]
    if absent:
        raise MonitoringError(
            f"{path} lacks column(s) {absent}: it needs request_id, optionally record, and "
            f"the true label in {target!r} (schema.target); it has {list(frame.columns)}"
        )
    if "record" not in frame.columns:
        frame["record"] = "0"
    records = pd.to_numeric(frame["record"], errors="coerce")
    bad = frame.loc[records.isna() | (records % 1 != 0) | (records < 0), "record"]
    if len(bad):
        raise MonitoringError(
            f"{path}: column 'record' must hold record indexes (0, 1, ...), got {bad.head(SHOWN).tolist()}"
        )
    labels = pd.DataFrame(
        {
            "request_id": frame["request_id"],
            "record": records.astype("int64"),
            "label": category_labels(frame[target]).to_numpy(),  # "1.0" is class "1"
        }
    )
    if labels.empty:
        raise MonitoringError(f"{path} holds no labels")
    duplicated = labels[labels.duplicated(KEYS, keep=False)]
    if len(duplicated):
        examples = duplicated[KEYS].drop_duplicates().head(SHOWN).to_dict("records")
        raise MonitoringError(f"{path} labels some records twice, e.g. {examples}")
    return labels


def join(labels: pd.DataFrame, records: LoggedRecords) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(labels with their logged prediction and model version, labels with no logged record)."""
    logged = records.meta[[*KEYS, "time", "model_version", "prediction"]].drop_duplicates(
        KEYS, keep="last"
    )
    joined = labels.merge(logged, on=KEYS, how="left", indicator=True)
    matched = joined[joined["_merge"] == "both"].drop(columns="_merge")
    unmatched = joined[joined["_merge"] == "left_only"][KEYS]
    return matched.reset_index(drop=True), unmatched.reset_index(drop=True)


def live_scores(settings: Settings, labels: pd.DataFrame, records: LoggedRecords) -> dict[str, Any]:
    """The live-metrics report: matches, then per version live vs training metrics."""
    matched, unmatched = join(labels, records)
    if matched.empty:
        raise MonitoringError(
            f"none of the {len(labels)} labels matches a logged prediction (e.g. "
            f"{unmatched.head(SHOWN).to_dict('records')}): check the request ids against the "
            f"log {settings.paths.prediction_log}"
        )
    metric, tolerance = settings.evaluate.metric, settings.monitoring.scores.tolerance
    # One model can be logged under two names (its hash version before registration, its
    # store version after): score it once, under its store version.
    stored_name, training_of, task_of = {}, {}, {}
    for logged in matched["model_version"].unique():
        stored_name[logged], metrics, task = _training_metrics(settings, str(logged))
        training_of[stored_name[logged]], task_of[stored_name[logged]] = metrics, task
    matched["model_version"] = matched["model_version"].map(stored_name)
    versions = {}
    for version, rows in matched.groupby("model_version", sort=True):
        live = _live(rows, task_of[version], metric)
        training = training_of[version]
        difference = {
            name: round(live[name] - training[name], 6) for name in live if name in training
        }
        # Worse by more than the tolerance: a score fell, or an error rose.
        worse = metric in difference and improvement(metric, live[metric], training[metric])
        versions[str(version)] = {
            "task": task_of[version],
            "rows": len(rows),
            "first": rows["time"].min().isoformat(),
            "live": live,
            "training": training,
            "difference": difference,
            "degraded": bool(metric in difference and worse < -tolerance),
        }
    report: dict[str, Any] = {
        "labels": {
            "rows": len(labels),
            "matched": len(matched),
            "unmatched": len(unmatched),
            "unmatched_examples": unmatched.head(SHOWN).to_dict("records"),
        },
        "metric": metric,
        "tolerance": tolerance,
        "versions": versions,
        # Versions whose training metrics are known: with none, there is no verdict.
        "compared": sum(1 for entry in versions.values() if metric in entry["difference"]),
        "degraded": any(entry["degraded"] for entry in versions.values()),
    }
    return {"findings": score_findings(report), **report}


def describe(report: dict[str, Any]) -> str:
    """The report for the terminal: the findings in words, then the numbers."""
    labels = report["labels"]
    lines = [*score_findings(report), ""]
    lines.append(f"{labels['matched']} of {labels['rows']} labels matched a logged prediction")
    if labels["unmatched"]:
        lines.append(f"  {labels['unmatched']} unmatched, e.g. {labels['unmatched_examples']}")
    for version, entry in report["versions"].items():
        lines.append(f"model {version}: {entry['rows']} labelled records")
        if not entry["training"]:
            lines.append("  no training metrics: not in the model store, not the last trained")
        for name, value in entry["live"].items():
            trained = entry["training"].get(name)
            versus = (
                ""
                if trained is None
                else f"   training {trained:.4f}   change {entry['difference'][name]:+.4f}"
            )
            marker = " <- gate metric" if name == report["metric"] else ""
            lines.append(f"  {name:<18} live {value:.4f}{versus}{marker}")
        if entry["degraded"]:
            lines.append(
                f"  DEGRADED: live {report['metric']} is more than {report['tolerance']} "
                f"{'below' if greater_is_better(report['metric']) else 'above'} training"
            )
    return "\n".join(lines)


def _live(rows: pd.DataFrame, task: str, metric: str) -> dict[str, float]:
    """The metrics of one version's labelled rows; a regressor's labels and predictions
    are numbers (a label that is not one is refused, naming it)."""
    if task != REGRESSION:
        return score(rows["label"], rows["prediction"])
    labels = pd.to_numeric(rows["label"], errors="coerce")
    bad = rows.loc[labels.isna(), "label"]
    if len(bad):
        raise MonitoringError(
            f"the model predicts numbers, but some true values are not: "
            f"{bad.head(SHOWN).tolist()}; fix those rows of the labels file"
        )
    predicted = pd.to_numeric(rows["prediction"], errors="coerce")
    return score(labels, predicted, REGRESSION, metric)


def _training_metrics(settings: Settings, version: str) -> tuple[str, dict[str, float], str]:
    """(the version's store name, its test-split metrics at training, its task); if its
    metadata is gone: the name as logged, no metrics and the task params.yaml trains."""
    try:
        metadata, _ = version_metadata(settings, version)
    except MonitoringError:
        task = configured_task(settings.model.estimator, settings.feature_schema.task)
        return version, {}, task or CLASSIFICATION
    metrics = dict((metadata.get("metrics") or {}).get("model") or {})
    task = metadata.get("task") or CLASSIFICATION  # metadata from before tasks: a classifier
    return str(metadata.get("version", version)), metrics, task
