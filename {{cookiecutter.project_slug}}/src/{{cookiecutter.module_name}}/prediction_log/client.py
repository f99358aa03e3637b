"""The worker's side of the prediction log: hand each answered request to a writer process.

A request only pickles its raw body, id, version and labels and writes them into the
pipe of this worker's writer process (``writer.py``, fed by ``writer_pipe.py``) without
waiting (a few microseconds); the writer parses, encodes and appends the records in its
own process, so the worker's CPU goes to requests. When the pipe is full (a stalled disk), requests wait
in a backlog of at most ``queue_size``; beyond it they are dropped and counted as
``queue_full``. Records the writer could not write come back as counts per reason
(``ENOSPC``, ...); a writer that died loses what it had (``writer_exited``) and the next
request starts a new one.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

from {{ cookiecutter.module_name }}.config import (
    ENV_PREFIX,
    Settings,
)
from {{ cookiecutter.module_name }}.prediction_log.appender import (
    ErrorCounter,
    never_raising,
)
from {{ cookiecutter.module_name }}.prediction_log.protocol import (
    RecordShape,
    WriterSetup,
    pack,
)
from {{ cookiecutter.module_name }}.prediction_log.writer_pipe import (
    WriterPipe,
)
from {{ cookiecutter.module_name }}.schema import (
    MISSING_CATEGORY,
    FeatureSchema,
)

log = logging.getLogger(__name__)

SALT_ENV = f"{ENV_PREFIX}_LOG_SALT"
# A writer that died is started again at most this often (seconds).
RESTART_EVERY = 5.0


class PredictionLogClient:
    """Queues requests for this process's writer process; never blocks, never raises."""

    def __init__(self, setup: WriterSetup, queue_size: int, on_error: ErrorCounter) -> None:
        self.setup = setup
        self.queue_size = queue_size
        self.on_error = never_raising(on_error)
        self._writer: WriterPipe | None = None
        self._closed = False
        self._started_at = -RESTART_EVERY
        self._lock = threading.Lock()
        weakref.finalize(self, _close_holder, self.__dict__)

    @classmethod
    def from_settings(cls, settings: Settings, on_error: ErrorCounter) -> PredictionLogClient:
        """The client for ``monitoring.log`` in ``settings``."""
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

    def _current(self) -> WriterPipe | None:
        """This process's live writer; a new one after a fork or a death (rate-limited)."""
        writer = self._writer
        if _live_here(writer):
            return writer
        with self._lock:
            writer = self._writer
            if _live_here(writer):
                return writer
            if self._closed and (writer is None or writer.pid == os.getpid()):
                return None  # closed here: the worker is on its way out
            # A writer that died here, or failed to start here, is retried only so often;
            # a forked child (gunicorn's workers) starts its own at once.
            started_here = writer is None or writer.pid == os.getpid()
            if started_here and time.monotonic() - self._started_at < RESTART_EVERY:
                return None
            self._started_at = time.monotonic()
            self._writer = WriterPipe(self.setup, self.queue_size, self.on_error)
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
        options.sink,
    )


def record_shape(schema: FeatureSchema) -> RecordShape:
    """What the writer needs of ``schema`` to re-read validated records."""
    return RecordShape(tuple(schema.features), frozenset(schema.numeric), MISSING_CATEGORY)


def _live_here(writer: WriterPipe | None) -> bool:
    """True for a writer started by this process (not inherited through a fork) and alive."""
    return writer is not None and writer.pid == os.getpid() and not writer.dead


def _close_holder(state: dict[str, Any], timeout: float = 5.0) -> None:
    """Settle and end the writer of a client's state: a function of the state, not of the
    client, so that it can run when the client is garbage-collected or at exit."""
    writer = state.get("_writer")
    if writer is not None and writer.pid == os.getpid():
        state["_closed"] = True
        deadline = time.monotonic() + timeout
        writer.settled(deadline)
        writer.stop(deadline)
