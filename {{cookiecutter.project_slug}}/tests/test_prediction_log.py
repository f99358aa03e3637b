"""The prediction log: request ids, records as written, privacy, the size bound, failures."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.module_name }}.config import (
    Settings,
)
from {{ cookiecutter.module_name }}.prediction_log import client as log_client
from {{ cookiecutter.module_name }}.prediction_log.appender import (
    PredictionLog,
)
from {{ cookiecutter.module_name }}.prediction_log.line_format import (
    LineEncoder,
    hash_value,
)
from {{ cookiecutter.module_name }}.prediction_log.rotating_file import (
    log_files,
)
from {{ cookiecutter.module_name }}.serving.app import (
    create_app,
)


def with_log(settings: Settings, path: Path, **options: Any) -> Settings:
    """``settings`` logging to ``path`` with some monitoring.log options replaced."""
    log = settings.monitoring.log.model_copy(update=options)
    monitoring = settings.monitoring.model_copy(update={"log": log})
    return settings.with_paths(prediction_log=path).model_copy(update={"monitoring": monitoring})


def serving(settings: Settings) -> Any:
    """An app for ``settings`` and its test client."""
    app = create_app(settings)
    return app, app.test_client()


def written(app: Any) -> None:
    """Wait for the app's writer process to write what the requests queued."""
    assert app.extensions["prediction_log"].flush()


def logged(path: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for file in log_files(path)
        for line in file.read_text(encoding="utf-8").splitlines()
    ]


def error_count(client: Any, reason: str) -> float:
    """prediction_log_errors_total for ``reason`` in the app's /metrics scrape."""
    scrape = client.get("/metrics").get_data(as_text=True)
    return sum(
        sample.value
        for family in text_string_to_metric_families(scrape)
        for sample in family.samples
        if sample.name == "prediction_log_errors_total" and sample.labels.get("reason") == reason
    )


def test_each_record_is_logged_under_the_request_id_the_client_sent(
    trained: Settings, tmp_path: Path, example_record: dict[str, Any]
) -> None:
    path = tmp_path / "logs" / "predictions.jsonl"
    app, client = serving(with_log(trained, path))
    second = {**example_record, trained.feature_schema.numeric[0]: None}
    response = client.post(
        "/predict", json=[example_record, second], headers={"X-Request-ID": "order-42.a"}
    )
    assert response.status_code == 200
    written(app)
    body = response.get_json()
    assert body["request_id"] == response.headers["X-Request-ID"] == "order-42.a"
    records = logged(path)
    assert [(r["request_id"], r["record"]) for r in records] == [
        ("order-42.a", 0),
        ("order-42.a", 1),
    ]
    assert [r["prediction"] for r in records] == [p["prediction"] for p in body["predictions"]]
    assert {r["model_version"] for r in records} == {body["model_version"]}
    assert set(records[0]["features"]) == set(trained.feature_schema.features)
    assert records[1]["features"][trained.feature_schema.numeric[0]] is None  # NaN -> null
    assert pd.Timestamp(records[0]["time"]).tzinfo is not None


@pytest.mark.parametrize("sent", [None, "has spaces", "x" * 200, "semi;colon"])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_new_one(
    trained: Settings, tmp_path: Path, example_record: dict[str, Any], sent: str | None
) -> None:
    app, client = serving(with_log(trained, tmp_path / "p.jsonl"))
    headers = {} if sent is None else {"X-Request-ID": sent}
    ids = {client.post("/predict", json=example_record, headers=headers).get_json()["request_id"]}
    ids.add(client.post("/predict", json=example_record, headers=headers).get_json()["request_id"])
    written(app)
    assert len(ids) == 2  # fresh each time
    assert all(re.fullmatch("[0-9a-f]{32}", value) for value in ids)
    assert {r["request_id"] for r in logged(tmp_path / "p.jsonl")} == ids


def test_excluded_columns_are_dropped_and_hashed_ones_hashed(
    trained: Settings, tmp_path: Path, example_record: dict[str, Any], monkeypatch: Any
) -> None:
    schema = trained.feature_schema
    excluded, hashed = schema.features[0], schema.features[-1]
    monkeypatch.setenv(log_client.SALT_ENV, "pepper")
    settings = with_log(trained, tmp_path / "p.jsonl", exclude=(excluded,), hash=(hashed,))
    app, client = serving(settings)
    assert client.post("/predict", json=example_record).status_code == 200
    written(app)
    features = logged(tmp_path / "p.jsonl")[0]["features"]
    assert excluded not in features
    value = example_record[hashed]
    label = str(value) if hashed in schema.categorical else str(float(value))
    assert features[hashed] == hashlib.sha256(f"pepper{label}".encode()).hexdigest()[:16]


def test_logging_can_be_switched_off(
    trained: Settings, tmp_path: Path, example_record: dict[str, Any]
) -> None:
    app, client = serving(with_log(trained, tmp_path / "p.jsonl", enabled=False))
    assert client.post("/predict", json=example_record).status_code == 200
    assert "prediction_log" not in app.extensions
    assert log_files(tmp_path / "p.jsonl") == []


def test_a_full_disk_is_counted_not_answered(
    trained: Settings, tmp_path: Path, example_record: dict[str, Any]
) -> None:
    path = tmp_path / "p.jsonl"
    path.symlink_to("/dev/full")  # every write: ENOSPC, as on a full disk
    app, client = serving(with_log(trained, path))
    for _ in range(3):
        response = client.post("/predict", json=example_record)
        assert response.status_code == 200
        assert response.get_json()["predictions"]
    written(app)
    assert error_count(client, "ENOSPC") == 3


def test_an_unwritable_log_folder_does_not_fail_requests(
    trained: Settings, tmp_path: Path, example_record: dict[str, Any]
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log folder should be\n")
    app, client = serving(with_log(trained, blocker / "p.jsonl"))
    assert client.post("/predict", json=example_record).status_code == 200
    written(app)
    assert error_count(client, "ENOTDIR") == 1


def frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"size": [float(i) for i in range(rows)], "colour": ["red"] * rows})


def write_requests(path: str, count: int, prefix: str) -> None:
    log = PredictionLog(Path(path), max_bytes=4096, backups=2)
    for number in range(count):
        assert log.log(f"{prefix}-{number}", "v1", frame(3), ["a"] * 3)


def test_rotation_keeps_the_log_within_its_bound(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    write_requests(str(path), 200, "one")
    files = log_files(path)
    assert [file.name for file in files] == ["p.jsonl.2", "p.jsonl.1", "p.jsonl"]
    assert sum(file.stat().st_size for file in files) <= 4096 * 3
    assert all(file.stat().st_size <= 4096 for file in files)
    records = logged(path)
    assert records[-1]["request_id"] == "one-199"  # the newest survive, in order
    numbers = [int(r["request_id"].split("-")[1]) for r in records]
    assert numbers == sorted(numbers)


def test_processes_writing_at_once_keep_whole_lines_and_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=write_requests, args=(str(path), 150, f"w{n}")) for n in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    files = log_files(path)
    assert sum(file.stat().st_size for file in files) <= 4096 * 3
    assert logged(path)  # every line parses: no interleaved writes
    assert not [name for name in os.listdir(tmp_path) if name.startswith("p.jsonl.3")]


def test_a_record_larger_than_a_file_is_dropped_and_counted(tmp_path: Path) -> None:
    reasons: list[str] = []
    log = PredictionLog(
        tmp_path / "p.jsonl",
        max_bytes=1024,
        backups=1,
        on_error=lambda reason, records: reasons.append(reason),
    )
    wide = pd.DataFrame({"text": ["x" * 2000]})
    assert not log.log("big", "v1", wide, ["a"])
    assert reasons == ["record_too_large"]
    assert logged(tmp_path / "p.jsonl") == []


def test_a_counter_that_fails_does_not_fail_the_logging_call(tmp_path: Path) -> None:
    """Counting a lost record must never cost the request itself (never_raising)."""

    def broken_counter(reason: str, records: int) -> None:
        raise RuntimeError("the metrics backend is down")

    log = PredictionLog(tmp_path / "p.jsonl", max_bytes=1024, backups=1, on_error=broken_counter)
    assert not log.log("big", "v1", pd.DataFrame({"text": ["x" * 2000]}), ["a"])


def test_lines_hold_any_value_as_json_reads_it_back() -> None:
    """Text JSON must escape, numbers that are not finite (null), a number beyond 64 bits
    (the standard library's fallback), numpy scalars, hashed and excluded columns."""
    tricky = ['quote " and \\ backslash', "line\nbreak\ttab\x01", "é 漢字 🐧", "\u2028"]
    big = 2**70
    columns = {
        "text": tricky,
        "number": [float("nan"), float("inf"), 1e-7, np.float64(2.5)],
        "whole": [1, big, -3, None],
        "secret": ["a", "a", None, "b"],
        "dropped": [1, 2, 3, 4],
    }
    stamp = pd.Timestamp("2026-01-02T03:04:05.678", tz="UTC").to_pydatetime()
    requests = [("first", stamp, 3), ("second", None, 1)]
    encoder = LineEncoder(exclude=["dropped"], hashed=["secret"], salt="s")
    lines = encoder.lines("v1", columns, requests, ["x", "y", "é", "z"])

    assert len(lines) == 4
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
    records = [json.loads(line) for line in lines]
    assert [list(record) for record in records] == [
        ["time", "request_id", "model_version", "record", "prediction", "features"]
    ] * 4
    assert [record["request_id"] for record in records] == ["first"] * 3 + ["second"]
    assert [record["record"] for record in records] == [0, 1, 2, 0]
    assert records[0]["time"] == "2026-01-02T03:04:05.678+00:00"
    assert [record["prediction"] for record in records] == ["x", "y", "é", "z"]
    features = [record["features"] for record in records]
    assert [row["text"] for row in features] == tricky
    assert [row["number"] for row in features] == [None, None, 1e-7, 2.5]
    assert [row["whole"] for row in features] == [1, big, -3, None]
    assert [row["secret"] for row in features] == [
        hash_value("a", "s"),
        hash_value("a", "s"),
        None,
        hash_value("b", "s"),
    ]
    assert all("dropped" not in row for row in features)


def test_lines_need_one_label_per_record() -> None:
    with pytest.raises(ValueError, match="do not match"):
        LineEncoder().lines("v1", {"a": [1, 2]}, [("r", None, 2)], ["only one"])
