"""The worker's side of the prediction log: hand each answered request to a writer process.

A request only pickles its raw body, id, version and labels and writes them into the
pipe of this worker's writer process (``writer.py``) without waiting (a few
microseconds); the writer parses, encodes and appends the records in its own process, so
the worker's CPU goes to requests. When the pipe is full (a stalled disk), requests wait
in a backlog of at most ``queue_size``; beyond it they are dropped and counted as
``queue_full``. Records the writer could not write come back as counts per reason
(``ENOSPC``, ...); a writer that died loses what it had (``writer_exited``) and the next
request starts a new one.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import logging
import os
import queue
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from {{ cookiecutter.module_name }}.config import (
    ENV_PREFIX,
    Settings,
)
from {{ cookiecutter.module_name }}.prediction_log.files import (
    ErrorCounter,
    never_raising,
)
from {{ cookiecutter.module_name }}.prediction_log.writer import (
    RecordShape,
    WriterSetup,
    pack,
)
from {{ cookiecutter.module_name }}.schema import (
    MISSING_CATEGORY,
    FeatureSchema,
)

log = logging.getLogger(__name__)

SALT_ENV = f"{ENV_PREFIX}_LOG_SALT"
WRITER_MODULE = f"{__package__}.writer"
# The folder that holds this package: the writer must import the same code.
SOURCE_ROOT = Path(__file__).resolve().parents[2]
# A writer that died is started again at most this often (seconds).
RESTART_EVERY = 5.0
# Bytes of the pipe to the writer (Linux raises the default 64 KiB up to this without
# privileges): about 100 requests of 100 records.
PIPE_SIZE = 1 << 20


class PredictionLogClient:
    """Queues requests for this process's writer process; never blocks, never raises."""

    def __init__(self, setup: WriterSetup, queue_size: int, on_error: ErrorCounter) -> None:
        self.setup = setup
        self.queue_size = queue_size
        self.on_error = never_raising(on_error)
        self._writer: _WriterProcess | None = None
        self._closed = False
        self._started_at = -RESTART_EVERY
        self._lock = threading.Lock()
        weakref.finalize(self, _close_holder, self.__dict__)

    @classmethod
    def from_settings(cls, settings: Settings, on_error: ErrorCounter) -> PredictionLogClient:
        return cls(writer_setup(settings), settings.monitoring.log.queue_size, on_error)

    def submit(
        self,
        request: str,
        model_version: str,
        schema: FeatureSchema,
        body: bytes,
        labels: Sequence[str],
    ) -> bool:
        """Queue one answered request (its raw JSON body); False if dropped (counted)."""
        labels = list(labels)
        try:
            writer = self._current()
            if writer is None:
                self.on_error("writer_unavailable", len(labels))
                return False
            # A version's schema travels with its first request (the writer re-reads bodies).
            known = model_version in writer.schemas
            message = ("log", request, model_version, time.time(), body, labels)
            shape = None if known else record_shape(schema)
            if not writer.put(pack((*message, shape)), len(labels)):
                return False
            writer.schemas.add(model_version)
        except queue.Full:
            self.on_error("queue_full", len(labels))
            return False
        except Exception as error:  # e.g. the writer process cannot be started
            log.warning("prediction log: request not queued: %s", error)
            self.on_error(type(error).__name__, len(labels))
            return False
        return True

    def start(self) -> None:
        """Start this process's writer now (gunicorn's ``post_worker_init``), not with the
        first request (half a millisecond it would wait)."""
        try:
            self._current()
        except Exception as error:  # the first request will try again
            log.warning("prediction log: the writer process did not start: %s", error)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until the writer has settled every queued record (tests, shutdown)."""
        writer = self._writer
        if writer is None or writer.pid != os.getpid():
            return True
        return writer.settled(time.monotonic() + timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Flush, then end the writer process (it writes what it has and exits). Also
        runs when the client is garbage-collected and when the worker exits."""
        _close_holder(self.__dict__, timeout)

    @property
    def writer_pid(self) -> int | None:
        """The writer process's id (tests, benchmarks), None before the first request."""
        writer = self._writer
        return writer.process.pid if writer and writer.process else None

    def _current(self) -> _WriterProcess | None:
        """This process's live writer; a new one after a fork or a death (rate-limited)."""
        writer = self._writer
        if writer is not None and writer.pid == os.getpid() and not writer.dead:
            return writer
        with self._lock:
            writer = self._writer
            if writer is not None and writer.pid == os.getpid() and not writer.dead:
                return writer
            if self._closed and (writer is None or writer.pid == os.getpid()):
                return None  # closed here: the worker is on its way out
            # A writer that died here, or failed to start here, is retried only so often;
            # a forked child (gunicorn's workers) starts its own at once.
            started_here = writer is None or writer.pid == os.getpid()
            if started_here and time.monotonic() - self._started_at < RESTART_EVERY:
                return None
            self._started_at = time.monotonic()
            self._writer = _WriterProcess(self.setup, self.queue_size, self.on_error)
            return self._writer


def writer_setup(settings: Settings) -> WriterSetup:
    """The writer's options from ``params.yaml``, the salt from the environment."""
    options = settings.monitoring.log
    return WriterSetup(
        settings.paths.prediction_log,
        options.max_bytes,
        options.backups,
        tuple(options.exclude),
        tuple(options.hash),
        os.environ.get(SALT_ENV, ""),
    )


def record_shape(schema: FeatureSchema) -> RecordShape:
    """What the writer needs of ``schema`` to re-read validated records."""
    return RecordShape(tuple(schema.features), frozenset(schema.numeric), MISSING_CATEGORY)


def _close_holder(state: dict[str, Any], timeout: float = 5.0) -> None:
    """Settle and end the writer of a client's state: a function of the state, not of the
    client, so that it can run when the client is garbage-collected or at exit."""
    writer = state.get("_writer")
    if writer is not None and writer.pid == os.getpid():
        state["_closed"] = True
        deadline = time.monotonic() + timeout
        writer.settled(deadline)
        writer.stop(deadline)


class _WriterProcess:
    """One writer process and its pipe. Requests write their frame straight into the pipe
    (non-blocking: no thread hand-off per request); what the pipe cannot take yet waits
    in a backlog of at most ``queue_size`` requests, sent by the next request or when the
    writer reports progress. A thread reads the writer's replies."""

    def __init__(self, setup: WriterSetup, queue_size: int, on_error: ErrorCounter) -> None:
        self.pid = os.getpid()
        self.on_error = on_error  # the client's, already never raising
        self.queue_size = queue_size
        self.schemas: set[str] = set()
        self.dead = False
        self.in_flight = 0  # records wholly in the pipe and not yet settled by the writer
        self.changed = threading.Condition()  # guards everything below and the pipe
        self.backlog: collections.deque[tuple[memoryview, int]] = collections.deque()
        self.process = _start()
        self.stdin = self.process.stdin
        assert self.stdin is not None
        self.fd = self.stdin.fileno()
        _widen(self.fd)
        os.set_blocking(self.fd, False)
        threading.Thread(target=self._read, name="prediction-log-replies", daemon=True).start()
        self.put(pack(("setup", setup)), 0)

    def put(self, frame: bytes, records: int) -> bool:
        """Send ``frame`` now, or keep it for later; ``queue.Full`` when the backlog is.
        False (the records counted as lost) when the writer has just died."""
        with self.changed:
            if self.dead:
                self._count_lost(records)
                return False
            if len(self.backlog) >= self.queue_size:
                raise queue.Full
            self.backlog.append((memoryview(frame), records))
            self._drain()
            return True

    def _drain(self) -> None:
        """Write backlog frames until the pipe is full (caller holds ``changed``)."""
        while self.backlog:
            data, records = self.backlog[0]
            try:
                sent = os.write(self.fd, data)
            except BlockingIOError:
                return
            except OSError:  # the writer died (broken pipe) or its input was closed
                self._die()
                return
            if sent < len(data):
                self.backlog[0] = (data[sent:], records)
                return
            self.backlog.popleft()
            self.in_flight += records

    def settled(self, deadline: float) -> bool:
        """True once the backlog is sent and the writer settled every record it got, or
        died (what it had is then counted as lost, ``writer_exited``)."""
        with self.changed:
            while (self.backlog or self.in_flight) and not self.dead:
                self._drain()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.changed.wait(min(remaining, 0.01))
            return not self.backlog

    def stop(self, deadline: float) -> None:
        """Close the writer's input; wait (until ``deadline``) for it to write and exit."""
        with self.changed:
            if self.backlog:  # a stalled writer: these never reached it
                log.warning("prediction log: %d request(s) not sent", len(self.backlog))
                self._count_lost(sum(records for _, records in self.backlog))
                self.backlog.clear()
            with contextlib.suppress(OSError):
                self.stdin.close()  # the writer reads to the end, writes, exits
            self.dead = True
        try:
            self.process.wait(max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            log.warning("prediction log: the writer process %d is still writing", self.process.pid)

    def _read(self) -> None:
        """Apply the writer's replies: settled records (then send more), lost records."""
        stdout = self.process.stdout
        assert stdout is not None
        for line in stdout:
            parts = line.decode(errors="replace").split()
            if len(parts) == 2 and parts[0] == "done" and parts[1].isdigit():
                with self.changed:
                    self.in_flight -= int(parts[1])
                    self._drain()
                    self.changed.notify_all()
            elif len(parts) == 3 and parts[0] == "error" and parts[2].isdigit():
                self.on_error(parts[1], int(parts[2]))
        self.process.wait()
        stdout.close()
        with contextlib.suppress(OSError):
            self.stdin.close()
        with self.changed:
            lost = self.in_flight + sum(records for _, records in self.backlog)
            self.in_flight = 0
            self.backlog.clear()
            self._die()
        self._count_lost(lost)

    def _count_lost(self, records: int) -> None:
        if records:
            log.warning("prediction log: %d record(s) lost with the writer process", records)
            self.on_error("writer_exited", records)

    def _die(self) -> None:
        with self.changed:
            self.dead = True
            self.changed.notify_all()


def _widen(fd: int) -> None:
    """Give the pipe PIPE_SIZE bytes (Linux) so that bursts rarely wait in the backlog."""
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)


def _start() -> subprocess.Popen[bytes]:
    """The writer process: this interpreter, this code, its own session (a terminal's
    Ctrl-C stops the server; the writer ends when the worker's pipe closes)."""
    environment = dict(os.environ)
    paths = [str(SOURCE_ROOT), environment.get("PYTHONPATH", "")]
    environment["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    for threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        environment[threads] = "1"  # no linear algebra here: no idle thread pools
    return subprocess.Popen(
        [sys.executable, "-m", WRITER_MODULE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=environment,
        start_new_session=True,
    )
