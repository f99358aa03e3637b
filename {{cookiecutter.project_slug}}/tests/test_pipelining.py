"""Batch scoring's overlap of reading, scoring and writing: order, errors, no leaked thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.module_name }}.batch.paths import BatchError
from {{ cookiecutter.module_name }}.batch.pipelining import (
    WriteBehind,
    read_ahead,
)
from {{ cookiecutter.module_name }}.batch.run import score_file
from {{ cookiecutter.module_name }}.batch.writers import TableWriter
from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel


def pipeline_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(("batch-reader", "batch-writer"))]


def test_read_ahead_keeps_the_order_and_ends_its_thread() -> None:
    assert list(read_ahead(iter(range(50)))) == list(range(50))
    assert not pipeline_threads()


def test_read_ahead_stays_one_chunk_ahead() -> None:
    produced: list[int] = []

    def chunks() -> Iterator[int]:
        for number in range(10):
            produced.append(number)
            yield number

    with closing(read_ahead(chunks())) as ahead:
        assert next(ahead) == 0
        threading.Event().wait(0.2)  # give the reader time to run ahead if it could
        assert len(produced) <= 3  # the one handed over, one queued, one being read
    assert not pipeline_threads()


def test_a_reading_error_reaches_the_consumer() -> None:
    def chunks() -> Iterator[int]:
        yield 1
        raise BatchError("row 7 is unreadable")

    with pytest.raises(BatchError, match="row 7"):
        list(read_ahead(chunks()))
    assert not pipeline_threads()


def test_stopping_early_ends_the_reader() -> None:
    with closing(read_ahead(iter(range(1000)))) as ahead:
        assert next(ahead) == 0
    assert not pipeline_threads()


def test_writes_run_in_order_and_a_failed_one_surfaces() -> None:
    done: list[int] = []
    with WriteBehind() as writes:
        for number in range(20):
            writes.submit(lambda number=number: done.append(number))
    assert done == list(range(20))

    def fail() -> None:
        raise OSError("No space left on device")

    def run_after_a_failure() -> None:
        with WriteBehind() as writes:
            writes.submit(fail)
            writes.submit(lambda: done.append(99))

    with pytest.raises(OSError, match="No space"):
        run_after_a_failure()
    assert 99 not in done
    assert not pipeline_threads()


def test_a_failed_write_leaves_no_output(
    model: LoadedModel,
    trained: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = tmp_path / "rows.csv"
    pd.read_csv(trained.paths.test_data).to_csv(source, index=False)
    settings = trained.model_copy(
        update={"batch": trained.batch.model_copy(update={"chunk_size": 10})}
    )
    calls = {"n": 0}
    original = TableWriter.write

    def write_then_fail(self: TableWriter, frame: pd.DataFrame) -> None:
        calls["n"] += 1
        if calls["n"] > 4:
            raise OSError("No space left on device")
        original(self, frame)

    monkeypatch.setattr(TableWriter, "write", write_then_fail)
    with pytest.raises(OSError, match="No space"):
        score_file(model, source, tmp_path / "out.csv", settings, progress=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["rows.csv"]
    assert not pipeline_threads()
