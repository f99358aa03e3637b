"""Logs for a cluster: records on the worker's stdout, drift from a collector's exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError

import test_monitoring
from {{ cookiecutter.module_name }}.config import (
    PredictionLogSettings,
    Settings,
)
from {{ cookiecutter.module_name }}.monitoring import (
    __main__ as cli,
)
from {{ cookiecutter.module_name }}.monitoring.logs import (
    read_exported,
    read_log,
)
from {{ cookiecutter.module_name }}.prediction_log.appender import (
    PredictionLog,
)
from {{ cookiecutter.module_name }}.serving.app import (
    create_app,
)
from {{ cookiecutter.module_name }}.storage import (
    read_json,
)
from {{ cookiecutter.module_name }}.training.data import (
    load_split,
)


def with_sink(settings: Settings, tmp_path: Path, sink: str) -> Settings:
    """``settings`` whose log, reports and store are in ``tmp_path``, logging to ``sink``."""
    log = settings.monitoring.log.model_copy(update={"sink": sink})
    monitoring = settings.monitoring.model_copy(update={"log": log})
    moved = settings.with_paths(
        prediction_log=tmp_path / "logs" / "predictions.jsonl",
        drift_report=tmp_path / "reports" / "drift.json",
        drift_html=tmp_path / "reports" / "drift.html",
        registry=tmp_path / "registry",
    )
    return moved.model_copy(update={"monitoring": monitoring})


def serve_rows(settings: Settings, frame: pd.DataFrame, request_id: str) -> None:
    """Send ``frame``'s rows to /predict as one request; wait until they are logged."""
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


def training_rows(settings: Settings, rows: int) -> pd.DataFrame:
    features, _ = load_split(settings.paths.train_data, settings)
    return features.sample(rows, replace=True, random_state=0).reset_index(drop=True)


def test_with_the_stdout_sink_each_record_is_one_json_line_on_stdout_as_in_the_file(
    trained: Settings, tmp_path: Path, capfd: Any
) -> None:
    rows = training_rows(trained, 3)
    to_file = with_sink(trained, tmp_path / "file", "file")
    serve_rows(to_file, rows, "same-request")
    to_stdout = with_sink(trained, tmp_path / "stdout", "stdout")
    capfd.readouterr()
    serve_rows(to_stdout, rows, "same-request")
    printed = [json.loads(line) for line in capfd.readouterr().out.splitlines()]
    assert not to_stdout.paths.prediction_log.exists()  # nothing written on this machine
    from_file = [
        json.loads(line)
        for line in to_file.paths.prediction_log.read_text(encoding="utf-8").splitlines()
    ]
    assert len(printed) == 3
    assert [{**r, "time": None} for r in printed] == [{**r, "time": None} for r in from_file]


def test_a_collectors_files_are_read_unwrapped_merged_by_time_and_noise_skipped(
    tmp_path: Path,
) -> None:
    log = PredictionLog(tmp_path / "local.jsonl", max_bytes=10_000_000, backups=1)
    frame = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0], "colour": ["red"] * 4})
    stamps = [pd.Timestamp(f"2026-01-0{day}", tz="UTC").to_pydatetime() for day in (1, 2, 3, 4)]
    for number, stamp in enumerate(stamps):
        assert log.log(f"r{number}", "v1.0.0", frame.iloc[[number]], ["a"], stamp)
    lines = (tmp_path / "local.jsonl").read_text(encoding="utf-8").splitlines()
    exports = tmp_path / "exports" / "2026"
    exports.mkdir(parents=True)
    # Replica A (plain lines, with other output between them) logged days 1 and 3,
    # replica B (wrapped as Docker and Kubernetes write them) days 2 and 4.
    (exports / "a.jsonl").write_text(
        f"{lines[2]}\nGET /health/ready 200\n{lines[0]}\n", encoding="utf-8"
    )
    wrapped = [json.dumps({"log": f"{line}\n", "stream": "stdout"}) for line in lines[1::2]]
    (exports / "b.jsonl").write_text("\n".join(wrapped) + "\n", encoding="utf-8")

    records = read_exported([str(tmp_path / "exports" / "**" / "*.jsonl")])

    local = read_log(tmp_path / "local.jsonl")
    assert records.meta["request_id"].tolist() == ["r0", "r1", "r2", "r3"]
    pd.testing.assert_frame_equal(records.meta, local.meta)
    pd.testing.assert_frame_equal(records.features, local.features)


def run_cli(settings: Settings, monkeypatch: Any, *argv: str) -> int:
    monkeypatch.setattr(cli, "load_settings", lambda: settings)
    return cli.main(list(argv))


def test_drift_reads_the_records_a_collector_exported_from_stdout(
    trained: Settings, tmp_path: Path, monkeypatch: Any, capfd: Any
) -> None:
    settings = with_sink(trained, tmp_path, "stdout")
    # The training rows themselves: no drift on any dataset (a resample may drift by chance).
    rows = test_monitoring.same_as_training(settings, settings.monitoring.drift.min_records)
    needed, limit = len(rows), settings.serving.max_batch_size
    capfd.readouterr()
    for start in range(0, needed // 2, limit):  # half the rows to each replica
        serve_rows(settings, rows.iloc[start : min(start + limit, needed // 2)], "replica-a")
    first = capfd.readouterr().out
    for start in range(needed // 2, needed, limit):
        serve_rows(settings, rows.iloc[start : start + limit], "replica-b")
    second = capfd.readouterr().out
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "replica-a.jsonl").write_text(first, encoding="utf-8")
    (exports / "replica-b.jsonl").write_text(second, encoding="utf-8")
    pattern = str(exports / "*.jsonl")

    assert run_cli(settings, monkeypatch, "drift", f"--logs={pattern}") == cli.EXIT_OK
    report = read_json(settings.paths.drift_report)
    assert report["current"]["rows"] == needed
    assert not report["drift_detected"]

    missing = str(tmp_path / "nowhere" / "*.jsonl")
    assert run_cli(settings, monkeypatch, "drift", "--logs", missing) == cli.EXIT_UNUSABLE
    assert "no file matches" in capfd.readouterr().err


def test_an_unknown_sink_is_refused_and_file_is_the_default() -> None:
    assert PredictionLogSettings().sink == "file"
    with pytest.raises(ValidationError, match="'file' or 'stdout'"):
        PredictionLogSettings.model_validate({"sink": "syslog"})
