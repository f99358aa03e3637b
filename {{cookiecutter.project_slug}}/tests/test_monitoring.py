"""Monitoring: the reference profile, PSI and KS drift, the drift reports and CLI, live scores."""

from __future__ import annotations

import json
import math
import re
import subprocess
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.module_name }}.config import (
    DriftSettings,
    PredictionLogSettings,
    ProfileSettings,
    Settings,
)
from {{ cookiecutter.module_name }}.monitoring import (
    __main__ as cli,
)
from {{ cookiecutter.module_name }}.monitoring import (
    findings,
)
from {{ cookiecutter.module_name }}.monitoring.drift import (
    categorical_drift,
    compare,
    psi,
)
from {{ cookiecutter.module_name }}.monitoring.logs import (
    read_log,
    window,
)
from {{ cookiecutter.module_name }}.monitoring.profile import (
    UNSEEN_LEVEL,
    build_profile,
    numeric_shares,
)
from {{ cookiecutter.module_name }}.monitoring.reference import (
    MonitoringError,
    Reference,
    load_reference,
)
from {{ cookiecutter.module_name }}.monitoring.scores import (
    read_labels,
)
from {{ cookiecutter.module_name }}.prediction.model import (
    LoadedModel,
)
from {{ cookiecutter.module_name }}.prediction.store import (
    ModelStore,
    Pointer,
)
from {{ cookiecutter.module_name }}.prediction_log.appender import (
    PredictionLog,
)
from {{ cookiecutter.module_name }}.registry import (
    publish,
)
from {{ cookiecutter.module_name }}.schema import (
    FeatureSchema,
)
from {{ cookiecutter.module_name }}.scoring import greater_is_better
from {{ cookiecutter.module_name }}.serving.app import (
    create_app,
)
from {{ cookiecutter.module_name }}.serving.drift_report import load_drift
from {{ cookiecutter.module_name }}.storage import (
    read_json,
    write_json,
)
from {{ cookiecutter.module_name }}.training.data import (
    load_split,
)

THRESHOLDS = DriftSettings()
SYNTHETIC = FeatureSchema(target="y", numeric=("size",), categorical=("colour",))


# --- PSI and bins on known inputs -----------------------------------------------------


def test_psi_of_identical_shares_is_zero_and_grows_with_the_shift() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5], 1e-4) == 0
    expected = (0.9 - 0.5) * math.log(0.9 / 0.5) + (0.1 - 0.5) * math.log(0.1 / 0.5)
    assert psi([0.5, 0.5], [0.9, 0.1], 1e-4) == pytest.approx(expected)
    assert psi([0.5, 0.5], [0.6, 0.4], 1e-4) < psi([0.5, 0.5], [0.9, 0.1], 1e-4)


def test_an_empty_bin_counts_as_epsilon_so_psi_stays_finite() -> None:
    value = psi([1.0, 0.0], [0.5, 0.5], 1e-4)
    expected = (0.5 - 1.0) * math.log(0.5 / 1.0) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert value == pytest.approx(expected)


def test_numeric_bins_are_right_closed_with_missing_values_last() -> None:
    values = np.array([1.0, 1.5, 2.0, 3.0, np.nan])
    assert numeric_shares(values, [1.5, 2.5]) == [0.4, 0.2, 0.2, 0.2]


def test_levels_training_never_saw_are_pooled_named_and_can_drift() -> None:
    profile = {"shares": {"red": 0.5, "blue": 0.5}}
    values = pd.Series(["red"] * 40 + ["blue"] * 30 + ["green"] * 20 + ["pink"] * 10)
    result = categorical_drift(profile, values, THRESHOLDS)
    assert result["bins"]["labels"] == ["red", "blue", UNSEEN_LEVEL]
    assert result["bins"]["current"] == [0.4, 0.3, 0.3]
    assert result["unseen_levels"] == ["green", "pink"]
    assert result["drifted"]


# --- drift on synthetic samples (fixed seed) -------------------------------------------


def synthetic(rows: int, seed: int, shift: float = 0.0, green: float = 0.0) -> pd.DataFrame:
    """Normal sizes (mean 10 + shift) and colours red/blue, with a share of green."""
    generator = np.random.default_rng(seed)
    colours = generator.choice(["red", "blue", "green"], rows, p=[0.6 - green, 0.4, green])
    return pd.DataFrame({"size": generator.normal(10 + shift, 2, rows), "colour": colours})


def synthetic_reference() -> Reference:
    train = synthetic(2000, seed=1)
    predictions = np.where(train["size"] > 10, "big", "small")
    profile = build_profile(train, predictions, SYNTHETIC, ProfileSettings(), "sha")
    return Reference("v1.0.0", {"artifact": {"sha256": "sha"}}, profile)


def logged_sample(tmp_path: Path, frame: pd.DataFrame) -> Any:
    """``frame`` written by the serving side's logger and read back as monitoring reads it."""
    log = PredictionLog(tmp_path / "p.jsonl", max_bytes=10_000_000, backups=1)
    predictions = ["big" if size > 10 else "small" for size in frame["size"]]
    assert log.log("req", "v1.0.0", frame, predictions)
    return read_log(tmp_path / "p.jsonl")


def test_a_sample_from_the_training_distribution_does_not_drift(tmp_path: Path) -> None:
    report = compare(
        synthetic_reference(),
        logged_sample(tmp_path, synthetic(800, seed=2)),
        THRESHOLDS,
        PredictionLogSettings(),
    )
    assert not report["drift_detected"]
    assert {name: f["drifted"] for name, f in report["features"].items()} == {
        "size": False,
        "colour": False,
    }
    assert report["features"]["size"]["psi"] < THRESHOLDS.psi_warn
    assert report["features"]["size"]["ks_pvalue"] > THRESHOLDS.ks_pvalue
    assert not report["prediction"]["drifted"]


def test_a_shifted_sample_drifts_in_features_and_predictions(tmp_path: Path) -> None:
    shifted = synthetic(800, seed=2, shift=2.0, green=0.3)
    report = compare(
        synthetic_reference(),
        logged_sample(tmp_path, shifted),
        THRESHOLDS,
        PredictionLogSettings(),
    )
    assert report["drift_detected"]
    size, colour = report["features"]["size"], report["features"]["colour"]
    assert size["drifted"]
    assert size["psi"] >= THRESHOLDS.psi_alert
    assert size["ks_pvalue"] < THRESHOLDS.ks_pvalue
    assert colour["drifted"]
    assert colour["unseen_levels"] == ["green"]
    assert report["prediction"]["drifted"]
    assert report["prediction"]["current"]["big"] > report["prediction"]["reference"]["big"]


# --- findings in words (synthetic frames) ---------------------------------------------

FIRST = datetime(2030, 1, 5, 12, 30, tzinfo=UTC)


def drift_of(tmp_path: Path, frame: pd.DataFrame) -> dict[str, Any]:
    """The drift report of ``frame`` against the synthetic training data, logged at FIRST."""
    log = PredictionLog(tmp_path / "p.jsonl", max_bytes=10_000_000, backups=1)
    predictions = ["big" if size > 10 else "small" for size in frame["size"]]
    assert log.log("req", "v1.0.0", frame, predictions, FIRST)
    records = read_log(tmp_path / "p.jsonl")
    return compare(synthetic_reference(), records, THRESHOLDS, PredictionLogSettings())


@pytest.mark.parametrize(("shift", "way"), [(3.0, "up"), (-3.0, "down")])
def test_a_shifted_feature_is_said_in_words_with_its_direction_size_and_start(
    tmp_path: Path, shift: float, way: str
) -> None:
    report = drift_of(tmp_path, synthetic(800, seed=2, shift=shift))
    median = report["features"]["size"]["median"]
    assert median["current"] - median["reference"] == pytest.approx(shift, abs=0.4)
    change = 100 * (median["current"] - median["reference"]) / median["reference"]
    found = findings.drift_findings(report)
    assert found[0] == (
        f"size moved {way}: its median is {median['current']:.4g} in live requests against "
        f"{median['reference']:.4g} in training ({change:+.0f}%), since 2030-01-05 12:30 UTC."
    )
    grew = "big" if way == "up" else "small"
    share = report["prediction"]["current"][grew]
    said = f"The model's answers moved: it predicts '{grew}' more often, for {100 * share:.0f}%"
    assert any(line.startswith(said) for line in found), found
    assert not any("colour" in line for line in found)  # colour did not move


def test_a_growing_category_and_new_levels_are_named_with_their_shares(tmp_path: Path) -> None:
    generator = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "size": generator.normal(10, 2, 1000),
            "colour": ["blue"] * 700 + ["red"] * 200 + ["purple"] * 100,
        }
    )
    report = drift_of(tmp_path, frame)
    (sentence,) = [line for line in findings.drift_findings(report) if line.startswith("colour")]
    red = report["features"]["colour"]["bins"]["reference"][0]
    assert sentence == (
        f"colour: more 'blue' (70% of live requests against {100 * (1 - red):.0f}% in training)"
        " and values never seen in training ('purple') (10% of live requests against 0% in "
        f"training); fewer 'red' (20% against {100 * red:.0f}%), since 2030-01-05 12:30 UTC."
    )


def test_missing_values_and_no_drift_are_said_in_words(tmp_path: Path) -> None:
    quiet_report = drift_of(tmp_path / "same", synthetic(800, seed=2))
    assert findings.drift_findings(quiet_report) == [
        "No drift: the 800 live requests to model v1.0.0 since 2030-01-05 12:30 UTC look "
        "like its training data."
    ]
    assert findings.drift_next_steps(quiet_report, "log.jsonl", "v0.9.0") == []
    gaps = synthetic(800, seed=2)
    gaps.loc[: 800 * 0.4, "size"] = np.nan
    report = drift_of(tmp_path / "gaps", gaps)
    assert findings.drift_findings(report)[0] == (
        "size is missing in 40% of live requests against 0% in training, since 2030-01-05 "
        "12:30 UTC."
    )


def test_the_next_steps_name_commands_that_run(tmp_path: Path) -> None:
    """Every command the steps print is one of these; the tail runs here, and the
    template's end-to-end tests run make retrain and make rollback REASON=... ."""
    report = drift_of(tmp_path, synthetic(800, seed=2, shift=3.0))
    log = tmp_path / "p.jsonl"
    steps = findings.drift_next_steps(report, str(log), "v0.9.0")
    commands = [command for step in steps for command in re.findall(r"`([^`]+)`", step)]
    assert commands == [
        f"tail -n 5 {log}",
        "make retrain",
        "make models",
        "make rollback REASON='drift in size'",
    ]
    # The advice is a shell line for a person to paste: run it as a shell would.
    shown = subprocess.run(commands[0], shell=True, capture_output=True, text=True, check=True)  # nosec B602: the report's own advice
    assert json.loads(shown.stdout.splitlines()[-1])["request_id"] == "req"
    no_rollback = findings.drift_next_steps(report, str(log), None)
    assert not any("make rollback" in step for step in no_rollback)


def test_excluded_and_hashed_columns_are_skipped_with_the_reason(tmp_path: Path) -> None:
    records = logged_sample(tmp_path, synthetic(200, seed=2)[["size"]].assign(colour="x"))
    report = compare(
        synthetic_reference(), records, THRESHOLDS, PredictionLogSettings(hash=("colour",))
    )
    assert list(report["features"]) == ["size"]
    assert "monitoring.log.hash" in report["skipped"]["colour"]


def test_the_window_keeps_recent_records_then_the_last_ones(tmp_path: Path) -> None:
    now = datetime(2030, 1, 10, tzinfo=UTC)
    log = PredictionLog(tmp_path / "p.jsonl", max_bytes=1_000_000, backups=0)
    for days_ago in (5, 3, 1, 0):
        stamp = now - timedelta(days=days_ago)
        assert log.log(f"d{days_ago}", "v1", synthetic(1, seed=0), ["a"], stamp)
    records = read_log(tmp_path / "p.jsonl")
    assert list(window(records, None, None, now).meta["request_id"]) == ["d5", "d3", "d1", "d0"]
    assert list(window(records, 2, None, now).meta["request_id"]) == ["d1", "d0"]
    assert list(window(records, 4, 1, now).meta["request_id"]) == ["d0"]
    assert list(window(records, None, 3, now).meta["request_id"]) == ["d3", "d1", "d0"]


# --- the served model's reference and the drift command ----------------------------------


@pytest.fixture
def monitored(trained: Settings, tmp_path: Path) -> Settings:
    """The trained model's settings with a fresh log, reports and store in ``tmp_path``."""
    return trained.with_paths(
        prediction_log=tmp_path / "logs" / "predictions.jsonl",
        drift_report=tmp_path / "reports" / "drift.json",
        drift_html=tmp_path / "reports" / "drift.html",
        live_metrics=tmp_path / "reports" / "live_metrics.json",
        registry=tmp_path / "registry",
    )


def serve(settings: Settings, frame: pd.DataFrame, request_id: str = "batch") -> list[str]:
    """Send ``frame``'s rows to /predict as one request; return the predicted classes."""
    records = [
        {name: (None if pd.isna(value) else value) for name, value in row.items()}
        for row in frame.astype(object).to_dict("records")
    ]
    app = create_app(settings)
    response = app.test_client().post(
        "/predict", json=records, headers={"X-Request-ID": request_id}
    )
    assert response.status_code == 200, response.get_json()
    assert app.extensions["prediction_log"].flush()
    return [row["prediction"] for row in response.get_json()["predictions"]]


def training_rows(settings: Settings, rows: int, seed: int) -> pd.DataFrame:
    features, _ = load_split(settings.paths.train_data, settings)
    return features.sample(rows, replace=True, random_state=seed).reset_index(drop=True)


def same_as_training(settings: Settings, at_least: int) -> pd.DataFrame:
    """The training split's rows (the reference drift compares with), at least ``at_least``."""
    features, _ = load_split(settings.paths.train_data, settings)
    if len(features) >= at_least:
        return features
    return training_rows(settings, at_least, seed=0)


def shifted(settings: Settings, frame: pd.DataFrame) -> pd.DataFrame:
    """Every numeric column moved by one standard deviation (kept inside schema.ranges)."""
    moved = frame.copy()
    for name in settings.feature_schema.numeric:
        column = moved[name] + moved[name].std()
        low, high = settings.feature_schema.ranges.get(name, (-np.inf, np.inf))
        moved[name] = column.clip(low, high)
    return moved


def run_cli(settings: Settings, monkeypatch: Any, *argv: str) -> int:
    monkeypatch.setattr(cli, "load_settings", lambda: settings)
    return cli.main(list(argv))


def test_drift_command_exit_codes_and_reports(
    monitored: Settings, monkeypatch: Any, capsys: Any
) -> None:
    options = monitored.monitoring.drift
    assert run_cli(monitored, monkeypatch, "drift") == cli.EXIT_UNUSABLE  # no log yet
    assert "at least" in capsys.readouterr().err
    assert not monitored.paths.drift_report.exists()

    # The training rows themselves (a resample of 100 drifts by chance on a dataset with
    # many columns): no drift on any data.
    same = same_as_training(monitored, options.min_records)
    limit = monitored.serving.max_batch_size
    for start in range(0, len(same), limit):
        serve(monitored, same.iloc[start : start + limit], "same")
    assert run_cli(monitored, monkeypatch, "drift") == cli.EXIT_OK
    report = read_json(monitored.paths.drift_report)
    assert not report["drift_detected"]
    assert set(report["features"]) == set(monitored.feature_schema.features)
    assert report["current"]["rows"] == len(same)
    assert report["model_version"] == read_json(monitored.paths.metadata)["version"]
    assert load_drift(monitored.paths.drift_report, monitored.root)["status"] == "ok"

    last = monitored.model_copy(
        update={
            "monitoring": monitored.monitoring.model_copy(
                update={"drift": options.model_copy(update={"max_records": options.min_records})}
            )
        }
    )
    serve(monitored, shifted(monitored, training_rows(monitored, options.min_records, 1)))
    capsys.readouterr()
    # By hand, drift is a verdict in words (exit 0); --check (cron, CI) exits 1 on it.
    assert run_cli(last, monkeypatch, "drift") == cli.EXIT_OK
    out = capsys.readouterr().out
    said = read_json(monitored.paths.drift_report)["findings"]
    assert out.startswith("\n".join(said) + "\n- Look at the data"), out  # words first
    assert len(said) >= len(monitored.feature_schema.numeric)
    assert all(f"{name} moved up" in out for name in monitored.feature_schema.numeric)
    assert run_cli(last, monkeypatch, "drift", "--check") == cli.EXIT_ALERT
    report = read_json(monitored.paths.drift_report)
    assert report["drift_detected"]
    assert all(report["features"][name]["drifted"] for name in monitored.feature_schema.numeric)
    shown = load_drift(monitored.paths.drift_report, monitored.root)  # what /dashboard shows
    assert shown["status"] == "ok", shown
    assert shown["report"]["drift_detected"]
    assert set(shown["report"]["features"]) == set(report["features"])
    assert report["current"]["first"] <= report["current"]["last"]
    html = monitored.paths.drift_html.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "Drift detected" in html
    assert html.index(escape(report["findings"][0])) < html.index("<table>")
    assert "<code>make retrain</code>" in html
    assert html.count("<svg") >= len(report["features"]) + 1
    assert all(name in html for name in monitored.feature_schema.features)
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_the_drift_reference_is_the_served_versions_profile(
    monitored: Settings, tmp_path: Path
) -> None:
    metadata = read_json(monitored.paths.metadata)
    stored = {**metadata, "version": "v1.0.0", "lineage": {"trained_as": metadata["version"]}}
    store = ModelStore(monitored.paths.registry)
    publish.export_version(store, "v1.0.0", monitored.paths.model, stored)
    publish.write_pointer(store, Pointer("v1.0.0"))
    assert (store.version_dir("v1.0.0") / monitored.paths.reference_profile.name).is_file()
    reference = load_reference(monitored)
    assert reference.version == "v1.0.0"
    assert reference.logged_versions == {"v1.0.0", metadata["version"]}
    assert reference.profile == read_json(monitored.paths.reference_profile)

    # The last trained model (not registered in this store) with another model's profile.
    other = monitored.with_paths(
        reference_profile=tmp_path / "other.json", registry=tmp_path / "empty-store"
    )
    (tmp_path / "other.json").write_text('{"artifact_sha256": "not this model"}')
    with pytest.raises(MonitoringError, match="another model"):
        load_reference(other, metadata["version"])
    profile = read_json(monitored.paths.reference_profile)
    (tmp_path / "other.json").write_text(json.dumps({**profile, "format": 99}))
    with pytest.raises(MonitoringError, match="format 99"):
        load_reference(other, metadata["version"])


# --- live scores ---------------------------------------------------------------------


def test_scores_join_labels_to_logged_predictions_and_compare_with_training(
    monitored: Settings, model: LoadedModel, monkeypatch: Any, capsys: Any, tmp_path: Path
) -> None:
    predicted = serve(monitored, training_rows(monitored, 40, seed=3), "labelled")
    regression = model.task == "regression"
    if regression:
        # Every true value is far from its prediction (by ten times the largest one): any
        # error metric rises, and R² falls, past what any model that beat the baseline
        # at training scored, whatever the data.
        far = 10 * (max(abs(value) for value in predicted) + 1)
        truth: list[Any] = [value + far * (-1) ** index for index, value in enumerate(predicted)]
        unsent: Any = 0.0
    else:
        classes = model.metadata["classes"]
        # Every label disagrees with the logged prediction: live scores are 0, below what
        # any model that beat the baseline at training scored, whatever the data.
        truth = [next(c for c in classes if c != label) for label in predicted]
        unsent = classes[0]
    labels = pd.DataFrame({"request_id": "labelled", "record": range(40), "truth": truth})
    labels.loc[40] = ["never-sent", 0, unsent]
    path = tmp_path / "labels.csv"
    labels.rename(columns={"truth": monitored.feature_schema.target}).to_csv(path, index=False)

    assert run_cli(monitored, monkeypatch, "scores", str(path)) == cli.EXIT_OK  # by hand
    code = run_cli(monitored, monkeypatch, "scores", "--check", str(path))
    report = read_json(monitored.paths.live_metrics)
    assert report["labels"] == {
        "rows": 41,
        "matched": 40,
        "unmatched": 1,
        "unmatched_examples": [{"request_id": "never-sent", "record": 0}],
    }
    (entry,) = report["versions"].values()
    assert entry["task"] == model.task
    if not regression:
        assert entry["live"]["accuracy"] == 0.0
    training = model.metadata["metrics"]["model"]
    assert entry["training"] == training
    metric = monitored.evaluate.metric
    assert entry["difference"][metric] == pytest.approx(entry["live"][metric] - training[metric])
    # Nothing right is far below what any model that passed the gate scored: degraded.
    assert entry["difference"][metric] < -monitored.monitoring.scores.tolerance
    assert entry["degraded"] is True
    assert report["compared"] == 1
    assert code == cli.EXIT_ALERT
    (version,) = report["versions"]
    live, trained = entry["live"][metric], training[metric]
    first = entry["first"][:16].replace("T", " ")
    way, worse = ("down", "below") if greater_is_better(metric) else ("up", "above")
    sentence = (
        f"Model {version}: {metric} is {way}, {live:.4f} on 40 labelled live requests against "
        f"{trained:.4f} at training ({live - trained:+.4f}), since {first} UTC: more than the "
        f"tolerance {monitored.monitoring.scores.tolerance} {worse} training: retrain (`make "
        "retrain`) or roll back (`make rollback`)."
    )
    assert report["findings"] == [sentence]
    out = capsys.readouterr().out
    assert out.startswith(sentence + "\n")  # the verdict in words first, numbers after
    assert "40 of 41 labels matched" in out


def logged_labels(model: LoadedModel) -> list[Any]:
    """Predictions to log, and take as true: the classes, or a few numbers for a regressor."""
    if model.task == "regression":
        return [0.5, 1.5, -2.0, 10.0]
    return list(model.metadata["classes"])


def label_logged(settings: Settings, path: Path, version: str, labels: list[Any]) -> None:
    """Log one request ``r`` of ``version`` and write its true labels to ``path``."""
    frame = training_rows(settings, len(labels), seed=5)[list(settings.feature_schema.features)]
    PredictionLog(settings.paths.prediction_log, 10_000_000, 1).log("r", version, frame, labels)
    target = settings.feature_schema.target
    pd.DataFrame({"request_id": "r", "record": range(len(labels)), target: labels}).to_csv(
        path, index=False
    )


def test_a_model_logged_before_registration_is_scored_under_its_store_version(
    monitored: Settings, model: LoadedModel, monkeypatch: Any, tmp_path: Path
) -> None:
    metadata = read_json(monitored.paths.metadata)
    stored = {**metadata, "version": "v1.0.0", "lineage": {"trained_as": metadata["version"]}}
    store = ModelStore(monitored.paths.registry)
    publish.export_version(store, "v1.0.0", monitored.paths.model, stored)
    # A killed export leaves its staging folder (a dot name) among the versions: not a version.
    staging = store.versions_root / ".v2.0.0.killed"
    staging.mkdir()
    write_json(staging / store.metadata_path("v1.0.0").name, {**stored, "version": "v2.0.0"})
    monitored = monitored.with_paths(metadata=tmp_path / "retrained-since.json")
    label_logged(monitored, tmp_path / "labels.csv", metadata["version"], logged_labels(model))
    # Every label is the logged prediction: live scores are perfect, nothing degraded.
    assert run_cli(monitored, monkeypatch, "scores", str(tmp_path / "labels.csv")) == cli.EXIT_OK
    report = read_json(monitored.paths.live_metrics)
    assert list(report["versions"]) == ["v1.0.0"]
    assert report["versions"]["v1.0.0"]["training"] == metadata["metrics"]["model"]


def test_labels_of_a_version_without_training_metrics_give_no_verdict(
    monitored: Settings, model: LoadedModel, monkeypatch: Any, capsys: Any, tmp_path: Path
) -> None:
    label_logged(monitored, tmp_path / "labels.csv", "gone0123abcd", logged_labels(model))
    code = run_cli(monitored, monkeypatch, "scores", str(tmp_path / "labels.csv"))
    assert code == cli.EXIT_UNUSABLE
    report = read_json(monitored.paths.live_metrics)
    assert report["compared"] == 0
    assert report["versions"]["gone0123abcd"]["training"] == {}
    assert report["findings"][0].startswith("Model gone0123abcd: no verdict: its training")
    assert "no training metrics" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,label\nx,a\n", "lacks column"),
        ("request_id,record,{target}\nx,one,a\n", "record indexes"),
        ("request_id,{target}\nx,a\nx,b\n", "twice"),
        ("request_id,{target}\n", "no labels"),
    ],
)
def test_a_bad_labels_file_is_refused_with_the_reason(
    tmp_path: Path, settings: Settings, content: str, message: str
) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(content.replace("{target}", settings.feature_schema.target))
    with pytest.raises(MonitoringError, match=message):
        read_labels(path, settings.feature_schema.target)


def test_labels_that_match_nothing_give_no_verdict(
    monitored: Settings, monkeypatch: Any, capsys: Any, tmp_path: Path
) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(f"request_id,{monitored.feature_schema.target}\nunknown,a\n")
    assert run_cli(monitored, monkeypatch, "scores", str(path)) == cli.EXIT_UNUSABLE
    assert "none of the 1 labels" in capsys.readouterr().err
    assert run_cli(monitored, monkeypatch, "scores", str(tmp_path / "nope.csv")) == 2
    assert run_cli(monitored, monkeypatch, "bogus") == 2
