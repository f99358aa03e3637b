"""The prediction log's writer process and the worker's client of it: framing, what the
writer writes, a stalled or killed writer, and the writer's end with its worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel
from {{ cookiecutter.module_name }}.prediction_log import client as log_client
from {{ cookiecutter.module_name }}.prediction_log import writer_pipe
from {{ cookiecutter.module_name }}.prediction_log.client import (
    PredictionLogClient,
    record_shape,
    writer_setup,
)
from {{ cookiecutter.module_name }}.prediction_log.protocol import (
    WriterSetup,
    pack,
    parse_json,
    unpack,
)
from {{ cookiecutter.module_name }}.prediction_log.rotating_file import (
    log_files,
)
from {{ cookiecutter.module_name }}.prediction_log.writer import (
    Writer,
)
from {{ cookiecutter.module_name }}.schema import FeatureSchema
from {{ cookiecutter.module_name }}.serving.validation import (
    record_reader,
)


def setup_for(settings: Settings, path: Path, **changes: Any) -> WriterSetup:
    setup = writer_setup(settings.with_paths(prediction_log=path))
    return WriterSetup(**{**setup.__dict__, **changes})


def writer_for(settings: Settings, path: Path) -> tuple[Writer, list[str]]:
    """A writer (without its process) set up to log to ``path``, and its replies."""
    replies: list[str] = []
    writer = Writer(replies.append)
    writer.handle(("setup", setup_for(settings, path)))
    return writer, replies


def logged(path: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for file in log_files(path)
        for line in file.read_text(encoding="utf-8").splitlines()
    ]


class Errors:
    """Collects ``on_error`` calls: (reason, records)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __call__(self, reason: str, records: int) -> None:
        self.calls.append((reason, records))

    def total(self, reason: str) -> int:
        return sum(records for name, records in self.calls if name == reason)


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_until(condition: Any, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_frames_are_read_whole_however_the_pipe_cuts_them() -> None:
    messages = [("log", "r1", "v1", 1.5, b'{"a": 1}', ["x"], None), ("setup", {"b": 2})]
    stream = b"".join(pack(message) for message in messages)
    buffer = bytearray()
    received = []
    for start in range(0, len(stream), 7):  # 7-byte pieces: frames and headers split
        buffer += stream[start : start + 7]
        received += unpack(buffer)
    assert received == messages
    assert buffer == bytearray()


def test_the_writer_writes_the_validated_records_and_settles_them(
    trained: Settings, model: LoadedModel, tmp_path: Path, example_record: dict[str, Any]
) -> None:
    path = tmp_path / "p.jsonl"
    writer, replies = writer_for(trained, path)
    numeric = model.schema.numeric[0]
    body = json.dumps([example_record, {**example_record, numeric: None}]).encode()
    writer.handle(("log", "r1", "v1", 0.0, body, ["a", "b"], record_shape(model.schema)))
    writer.handle(("log", "r2", "v2", 0.0, body, ["a", "b"], None))  # v2's schema never came
    writer.write_pending()
    records = logged(path)
    assert [(r["request_id"], r["record"], r["prediction"]) for r in records] == [
        ("r1", 0, "a"),
        ("r1", 1, "b"),
    ]
    assert records[0]["time"] == "1970-01-01T00:00:00.000+00:00"
    assert records[0]["features"][numeric] == float(example_record[numeric])
    assert records[1]["features"][numeric] is None
    assert replies == ["error no_shape 2", "done 4"]


def test_an_unreadable_body_is_counted_not_fatal(
    trained: Settings, model: LoadedModel, tmp_path: Path
) -> None:
    writer, replies = writer_for(trained, tmp_path / "p.jsonl")
    writer.handle(("log", "r1", "v1", 0.0, b"{not json", ["a"], record_shape(model.schema)))
    writer.write_pending()
    assert replies == ["error unreadable_request 1", "done 1"]


def test_one_invalid_request_in_a_burst_costs_only_its_own_records(
    trained: Settings, model: LoadedModel, tmp_path: Path, example_record: dict[str, Any]
) -> None:
    path = tmp_path / "p.jsonl"
    writer, replies = writer_for(trained, path)
    good = body_of([example_record])
    bad = body_of([{**example_record, model.schema.numeric[0]: "not a number"}] * 2)
    writer.handle(("log", "r1", "v1", 0.0, good, ["a"], record_shape(model.schema)))
    writer.handle(("log", "r2", "v1", 0.0, bad, ["a", "a"], None))
    writer.handle(("log", "r3", "v1", 0.0, good, ["b"], None))
    writer.handle(("log", "r4", "v1", 0.0, good, ["a", "b"], None))  # 2 labels, 1 record
    writer.write_pending()
    assert [(r["request_id"], r["prediction"]) for r in logged(path)] == [("r1", "a"), ("r3", "b")]
    assert replies == ["error unreadable_request 2", "error unreadable_request 2", "done 6"]


def test_the_writer_types_records_exactly_as_request_validation_does(
    model: LoadedModel, example_record: dict[str, Any]
) -> None:
    """The writer re-reads bodies without pydantic or pandas: its columns must equal what
    validation made of the same records, or drift would compare different values."""
    schema = with_both_kinds(model.schema)
    numeric, categorical = schema.numeric[0], schema.categorical[0]
    example_record = {**example_record, categorical: example_record.get(categorical, "x")}
    records = [
        example_record,
        {**example_record, numeric: None, categorical: None},  # missing values
        {**example_record, numeric: int(example_record[numeric])},  # an integer number
        {**example_record, categorical: 3},  # an integer label
        {**example_record, categorical: 3.0},  # the same label, as a whole-number float
        {**example_record, categorical: "3.0"},  # and as the text a float column gives
        {**example_record, "not_a_feature": [1, 2]},  # an extra column, ignored
    ]
    reader = record_reader(schema, "ignore")
    expected = reader.columns(reader.adapter.validate_python(records))
    columns = record_shape(schema).columns(records)
    assert columns == expected
    assert all(type(value) is float for value in columns[numeric] if value is not None)
    assert columns[categorical][3:6] == ["3", "3", "3"]


def with_both_kinds(schema: FeatureSchema) -> FeatureSchema:
    """``schema``, plus a categorical column if it has none (a dataset of numbers only)."""
    if schema.categorical and schema.numeric:
        return schema
    return FeatureSchema(
        target=schema.target,
        numeric=schema.numeric or ("a_number",),
        categorical=schema.categorical or ("a_label",),
    )


def test_records_validation_would_refuse_are_refused(model: LoadedModel) -> None:
    schema = with_both_kinds(model.schema)
    shape = record_shape(schema)
    numeric, categorical = schema.numeric[0], schema.categorical[0]
    good = dict.fromkeys(schema.features)
    for bad in ({**good, numeric: "1"}, {**good, numeric: True}, {**good, categorical: 1.5}):
        with pytest.raises(ValueError, match="column"):
            shape.columns([bad])
    with pytest.raises(KeyError):
        shape.columns([{numeric: 1.0}])


def body_of(records: list[dict[str, Any]]) -> bytes:
    return json.dumps(records).encode()


def test_the_client_logs_through_a_process_that_ends_with_it(
    trained: Settings, model: LoadedModel, tmp_path: Path, example_record: dict[str, Any]
) -> None:
    path = tmp_path / "p.jsonl"
    errors = Errors()
    client = PredictionLogClient(setup_for(trained, path), 10, errors)
    for number in range(5):
        assert client.submit(f"r{number}", "v1", model.schema, body_of([example_record]), ["a"])
    assert client.flush()
    pid = client.writer_pid
    assert pid is not None
    assert pid != os.getpid()
    assert [r["request_id"] for r in logged(path)] == [f"r{n}" for n in range(5)]
    assert client.submit("r5", "v1", model.schema, body_of([example_record]), ["a"])
    client.close()  # what runs when the worker exits: what was queued is written first
    assert wait_until(lambda: not alive(pid))
    assert len(logged(path)) == 6
    assert errors.calls == []


def test_a_stalled_writer_fills_the_backlog_then_requests_are_dropped_and_counted(
    trained: Settings, model: LoadedModel, tmp_path: Path, example_record: dict[str, Any]
) -> None:
    path = tmp_path / "p.jsonl"
    errors = Errors()
    client = PredictionLogClient(setup_for(trained, path), 1, errors)
    assert client.submit("r0", "v1", model.schema, body_of([example_record]), ["a"])
    assert client.flush()
    pid = client.writer_pid
    writer = client._writer
    assert pid is not None
    assert writer is not None
    os.kill(pid, signal.SIGSTOP)  # a disk that does not answer: the writer reads no more
    try:
        big = body_of([example_record] * 1000)
        sent = 0
        started = time.monotonic()
        while not writer.backlog:  # until the pipe is full and a request waits
            assert client.submit(f"big{sent}", "v1", model.schema, big, ["a"] * 1000)
            sent += 1
            assert sent < 100
        assert not client.submit("dropped", "v1", model.schema, big, ["a"] * 1000)
        assert time.monotonic() - started < 10  # never waited for the writer
        assert errors.calls == [("queue_full", 1000)]
    finally:
        os.kill(pid, signal.SIGCONT)
    assert client.flush()
    firsts = [r["request_id"] for r in logged(path) if r["record"] == 0]
    assert firsts == ["r0", *(f"big{n}" for n in range(sent))]
    client.close()


def test_a_request_larger_than_the_pipe_is_written_without_another_request(
    trained: Settings, model: LoadedModel, tmp_path: Path, example_record: dict[str, Any]
) -> None:
    """The pipe takes part of the frame; the writer must ask for the rest itself, or the
    records wait (unlogged, and lost if the worker is killed) for the next request."""
    path = tmp_path / "p.jsonl"
    client = PredictionLogClient(setup_for(trained, path), 10, Errors())
    # Twice the pipe, whatever a record's size: a dataset with many columns must not fill
    # the log file past monitoring.log.max_bytes (it would rotate mid-test).
    records = 2 * writer_pipe.PIPE_SIZE // len(body_of([example_record])) + 1
    body = body_of([example_record] * records)
    assert len(body) > writer_pipe.PIPE_SIZE
    assert client.submit("huge", "v1", model.schema, body, ["a"] * records)
    # No flush (it would push the rest itself) and no further request: just wait, counting
    # whole lines only (the writer may be halfway through appending).
    assert wait_until(lambda: path.is_file() and path.read_bytes().count(b"\n") == records)
    assert [r["request_id"] for r in logged(path)] == ["huge"] * records
    client.close()


def test_a_killed_writer_is_counted_and_replaced(
    trained: Settings,
    model: LoadedModel,
    tmp_path: Path,
    example_record: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(log_client, "RESTART_EVERY", 0.0)
    path = tmp_path / "p.jsonl"
    errors = Errors()
    client = PredictionLogClient(setup_for(trained, path), 10, errors)
    body = body_of([example_record])
    assert client.submit("r0", "v1", model.schema, body, ["a"])
    assert client.flush()
    first = client.writer_pid
    assert first is not None
    os.kill(first, signal.SIGSTOP)
    assert client.submit("lost", "v1", model.schema, body, ["a"])
    writer = client._writer
    assert writer is not None
    assert wait_until(lambda: writer.in_flight == 1)  # in the pipe, not written
    os.kill(first, signal.SIGKILL)
    assert wait_until(lambda: writer.dead)
    assert errors.total("writer_exited") == 1
    assert client.submit("r1", "v1", model.schema, body, ["a"])  # a new writer
    assert client.flush()
    assert client.writer_pid not in (None, first)
    assert [r["request_id"] for r in logged(path)] == ["r0", "r1"]
    client.close()


def test_a_writer_that_cannot_start_is_counted_and_retried_only_so_often(
    trained: Settings, model: LoadedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    starts: list[int] = []

    def no_process() -> Any:
        starts.append(1)
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(writer_pipe, "start_writer", no_process)
    errors = Errors()
    client = PredictionLogClient(setup_for(trained, tmp_path / "p.jsonl"), 10, errors)
    body = body_of([{}])
    assert not client.submit("r0", "v1", model.schema, body, ["a"])
    assert not client.submit("r1", "v1", model.schema, body, ["a"])
    assert starts == [1]  # not once per request: at most every RESTART_EVERY seconds
    assert errors.calls == [("OSError", 1), ("writer_unavailable", 1)]


def test_a_counter_that_fails_does_not_fail_the_request(
    trained: Settings, model: LoadedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counting a lost record must never cost the request itself (never_raising)."""

    def broken_counter(reason: str, records: int) -> None:
        raise RuntimeError("the metrics backend is down")

    def no_process() -> Any:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(writer_pipe, "start_writer", no_process)
    client = PredictionLogClient(setup_for(trained, tmp_path / "p.jsonl"), 10, broken_counter)
    assert not client.submit("r0", "v1", model.schema, body_of([{}]), ["a"])


def test_the_writer_ends_when_its_worker_is_killed(
    trained: Settings, tmp_path: Path, example_record: dict[str, Any]
) -> None:
    """A worker killed with SIGKILL runs no exit hook: the closed pipe ends its writer,
    which still writes every request the worker had handed over."""
    path = tmp_path / "p.jsonl"
    paths = {name: str(value) for name, value in trained.paths.model_dump().items()}
    paths["prediction_log"] = str(path)
    script = f"""
import time
from pathlib import Path
from {{ cookiecutter.module_name }}.config import load_settings
from {{ cookiecutter.module_name }}.serving.app import create_app
paths = dict((name, Path(value)) for name, value in {paths!r}.items())
app = create_app(load_settings().with_paths(**paths))
client = app.test_client()
for number in range(3):
    assert client.post("/predict", json={example_record!r}).status_code == 200
writer = app.extensions["prediction_log"]._writer
while writer.backlog:
    time.sleep(0.01)
print(writer.process.pid, flush=True)
time.sleep(600)
"""
    worker = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None
        pid = int(worker.stdout.readline())
        worker.kill()
        worker.wait(30)
        assert wait_until(lambda: not alive(pid))
    finally:
        worker.kill()
    assert len(logged(path)) == 3


# Bodies orjson refuses and the standard library reads: the server's answers stay as
# they were (validation names the column of a NaN, say).
LENIENT_BODIES = {
    "NaN": b'{"a": NaN}',
    "Infinity": b'[{"a": -Infinity}]',
    "a lone surrogate": b'{"a": "\\ud800"}',
    "UTF-16": '{"a": "é"}'.encode("utf-16"),
}


@pytest.mark.parametrize("body", LENIENT_BODIES.values(), ids=LENIENT_BODIES.keys())
def test_bodies_are_read_as_the_standard_library_reads_them(body: bytes) -> None:
    expected = json.loads(body)
    found = parse_json(body)
    assert repr(found) == repr(expected)  # repr: NaN equals nothing, not even itself


def test_plain_bodies_read_the_same_either_way() -> None:
    body = json.dumps(
        [{"a": 1.5, "b": None, "c": "Torgersen", "d": 3, "e": 1e-7, "f": "é"}] * 3
    ).encode()
    assert parse_json(body) == json.loads(body)


def test_an_integer_beyond_64_bits_is_read_as_a_float() -> None:
    """orjson's one lenient reading (JavaScript's): the server's answers are the same for a
    number column; a label column would get the float's whole-number label."""
    assert parse_json(b'{"a": 123456789012345678901234567890}') == {"a": 1.2345678901234568e29}


def test_a_malformed_body_keeps_the_standard_library_error() -> None:
    with pytest.raises(ValueError, match="Expecting property name enclosed in double quotes"):
        parse_json(b"{not json")


def test_the_writer_process_stays_light() -> None:
    """One writer runs beside every worker: it must not load pandas, numpy or pydantic
    (about 100 MB each time), nor the settings that import them."""
    check = (
        "import sys, {{ cookiecutter.module_name }}.prediction_log.writer\n"
        "print(sorted(m for m in ('pandas', 'numpy', 'pydantic', 'yaml') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"
