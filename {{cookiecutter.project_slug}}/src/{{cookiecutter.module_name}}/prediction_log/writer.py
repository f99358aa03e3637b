"""The prediction log's writer process: re-reads, encodes and appends what workers hand it.

Each serving worker starts one (``client.py``) and sends it, over a pipe, the raw
body of every answered ``/predict`` request with its id, model version, time and labels.
Parsing the body again, encoding one JSON line per record and writing them cost more CPU
than the prediction itself for a batch; here they run in another process, so a worker
never spends its interpreter on the log and a slow disk never holds a request.

The pipe's frames and replies are described in ``protocol.py``. The writer imports
neither pandas nor pydantic nor the settings: one writer per worker stays small (about
20 MB). It ends when its input closes (the worker exited or was killed), after writing
everything it had received.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import select
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from {{ cookiecutter.module_name }}.prediction_log.appender import (
    PredictionLog,
)
from {{ cookiecutter.module_name }}.prediction_log.line_format import (
    Columns,
    Group,
)
from {{ cookiecutter.module_name }}.prediction_log.protocol import (
    RecordShape,
    WriterSetup,
    parse_json,
    unpack,
)

log = logging.getLogger(__name__)

# Seconds the writer waits after a first request so that a burst is written at once.
LINGER = 0.05
READ_SIZE = 1 << 20
# The writer's niceness: on a busy machine the CPU goes to serving first. When serving
# takes every core, the pipe fills and requests are dropped and counted (queue_full)
# rather than answered later.
NICENESS = 19


class Writer:
    """The writer's work, without the pipe: keep shapes, gather requests, write them."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.report = report
        self.log: PredictionLog | None = None
        self.shapes: dict[str, RecordShape] = {}
        self.pending: list[tuple[Any, ...]] = []

    def handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "setup":
            setup: WriterSetup = message[1]
            self.log = PredictionLog(
                setup.path,
                setup.max_bytes,
                setup.backups,
                setup.exclude,
                setup.hashed,
                setup.salt,
                lambda reason, records: self.report(f"error {reason} {records}"),
                setup.stdout_fd if setup.sink == "stdout" else None,
            )
        elif kind == "log":
            *request, shape = message[1:]
            if shape is not None:
                self.shapes[request[1]] = shape
            self.pending.append(tuple(request))
        else:
            log.warning("prediction log writer: unknown message %r ignored", kind)

    def write_pending(self) -> None:
        """Write every gathered request, then say how many records are settled."""
        pending, self.pending = self.pending, []
        records = sum(len(item[4]) for item in pending)
        try:
            groups = [
                group
                for version, items in itertools.groupby(pending, key=lambda item: item[1])
                if (group := self._group(version, list(items))) is not None
            ]
            if groups and self.log is not None:
                self.log.log_groups(groups)
        except Exception as error:  # a bug here must not end the writer
            log.exception("prediction log writer: %d record(s) not written", records)
            self.report(f"error {type(error).__name__} {records}")
        self.report(f"done {records}")

    def _group(self, version: str, items: list[tuple[Any, ...]]) -> Group | None:
        """One version's requests as ``LineEncoder.lines`` takes them: all their
        records in one set of columns (one pass, however many requests)."""
        shape = self.shapes.get(version)
        if self.log is None or shape is None:
            reason = "no_setup" if self.log is None else "no_shape"
            self.report(f"error {reason} {sum(len(item[4]) for item in items)}")
            return None
        read = [entry for item in items if (entry := self._read(shape, *item)) is not None]
        if not read:
            return None
        merged: dict[str, list[Any]] = {name: [] for name in shape.features}
        for _, _, columns, _ in read:
            for name, values in columns.items():
                merged[name] += values
        requests = [(request, when, len(labels)) for request, when, _, labels in read]
        labels = [label for *_, entry_labels in read for label in entry_labels]
        return (version, merged, requests, labels)

    def _read(
        self,
        shape: RecordShape,
        request: str,
        version: str,
        stamp: float,
        body: bytes,
        labels: list[str],
    ) -> tuple[str, datetime, Columns, list[str]] | None:
        """(request, time, its records' columns, labels), or None (counted) if the body
        is not one validated record per label (the worker answered it: a bug)."""
        try:
            payload = parse_json(body)
            rows = [payload] if isinstance(payload, dict) else payload
            if not isinstance(rows, list) or len(rows) != len(labels):
                raise ValueError(f"{len(labels)} label(s) for the body's records")
            columns = shape.columns(rows)
        except (ValueError, KeyError, TypeError) as error:
            log.warning("prediction log writer: request %s not re-read: %r", request, error)
            self.report(f"error unreadable_request {len(labels)}")
            return None
        return (request, datetime.fromtimestamp(stamp, UTC), columns, labels)


def serve(stdin: int, stdout: int) -> None:
    """Read frames from ``stdin`` until it closes; write what came in LINGER seconds.

    After a first request the writer sleeps out the LINGER, then takes everything the
    pipe holds: it wakes about 1/LINGER times a second under load, not once per request
    (each wake-up costs the serving worker a context switch and its caches).
    """

    def report(line: str) -> None:
        with contextlib.suppress(OSError):  # the worker is gone: nobody to tell
            os.write(stdout, f"{line}\n".encode())

    writer = Writer(report)
    buffer = bytearray()
    open_input = True
    os.set_blocking(stdin, False)
    while open_input:
        select.select([stdin], [], [])  # idle until a request arrives, or the end
        time.sleep(LINGER)  # let the burst gather
        open_input = _read_available(stdin, buffer)
        for message in unpack(buffer):
            writer.handle(message)
        if writer.pending:
            writer.write_pending()
        elif buffer:  # part of a frame larger than the pipe: ask the worker for the rest
            report("done 0")


def _read_available(stdin: int, buffer: bytearray) -> bool:
    """Append what the pipe holds to ``buffer``; False once the worker closed it."""
    while True:
        try:
            chunk = os.read(stdin, READ_SIZE)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        buffer += chunk


def main() -> None:
    """Entry point of ``python -m {{ cookiecutter.module_name }}.prediction_log.writer``."""
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    serve(sys.stdin.fileno(), sys.stdout.fileno())


if __name__ == "__main__":
    main()
