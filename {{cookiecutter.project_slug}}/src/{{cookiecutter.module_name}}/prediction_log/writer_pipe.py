"""The worker's end of its writer process: start it, feed its pipe, read its replies.

Requests write their frames (``protocol.py``) straight into the pipe without blocking; a
full pipe (a stalled disk) keeps them in a bounded backlog, and a writer that died has
its records counted as lost (``writer_exited``). The code that runs in the writer
process is ``writer.py``.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import fcntl
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from {{ cookiecutter.module_name }}.prediction_log.appender import (
    ErrorCounter,
)
from {{ cookiecutter.module_name }}.prediction_log.protocol import (
    WriterSetup,
    pack,
)

log = logging.getLogger(__name__)

WRITER_MODULE = f"{__package__}.writer"
# The folder that holds this package: the writer must import the same code.
SOURCE_ROOT = Path(__file__).resolve().parents[2]
# Bytes of the pipe to the writer (Linux raises the default 64 KiB up to this without
# privileges): about 100 requests of 100 records.
PIPE_SIZE = 1 << 20
# The worker's standard output (the descriptor, not sys.stdout: a test may capture one).
STDOUT = 1


class WriterPipe:
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
        if setup.sink == "stdout":  # the writer writes the lines to this worker's stdout
            stdout_fd = os.dup(STDOUT)
            try:
                self.process = start_writer((stdout_fd,))
            finally:
                os.close(stdout_fd)  # the writer holds its own copy (same number)
            setup = dataclasses.replace(setup, stdout_fd=stdout_fd)
        else:
            self.process = start_writer()
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


def start_writer(pass_fds: tuple[int, ...] = ()) -> subprocess.Popen[bytes]:
    """The writer process: this interpreter, this code, its own session (a terminal's
    Ctrl-C stops the server; the writer ends when the worker's pipe closes). ``pass_fds``:
    descriptors it inherits at the same numbers (the worker's stdout, for that sink)."""
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
        pass_fds=pass_fds,
    )
