"""The prediction log's files: appends under a lock, bounded in size, rotated.

gunicorn runs several worker processes, each with its writer process, on one file, so
every write happens under an exclusive ``flock`` of ``<log>.lock``: size check, rotation
and append are one step, and the files never exceed ``max_bytes * (backups + 1)``
together. Rotation renames ``log -> log.1 -> log.2 ...`` and drops the oldest, like
``logging.RotatingFileHandler``.

A log is only useful if every line is a whole record. A write the disk cannot take in
full (ENOSPC: the kernel writes what fits, then fails) is cut back to where it started,
so nothing partial stays; and a line cut by a crash mid-write is closed with a newline
before the next chunk, so the next record is never glued onto it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path


def log_files(path: Path) -> list[Path]:
    """The log and its rotated files that exist, oldest first (``log.N`` ... ``log``)."""
    path = Path(path)
    rotated = []
    if path.parent.is_dir():
        for candidate in path.parent.glob(f"{path.name}.*"):
            suffix = candidate.name[len(path.name) + 1 :]
            if suffix.isdigit():
                rotated.append((int(suffix), candidate))
    files = [candidate for _, candidate in sorted(rotated, reverse=True)]
    return [*files, path] if path.is_file() else files


class RotatingFile:
    """Appends lines to a size-bounded, rotated file; safe across threads and processes."""

    def __init__(
        self, path: Path, max_bytes: int, backups: int, on_too_large: Callable[[], None]
    ) -> None:
        """``on_too_large`` runs for each line dropped for being larger than a whole file."""
        self.path = Path(path)
        self.lock_path = self.path.with_name(f"{self.path.name}.lock")
        self.max_bytes = max_bytes
        self.backups = backups
        self.on_too_large = on_too_large
        self._thread_lock = threading.Lock()  # flock guards processes; this guards threads

    def write(self, lines: Iterable[bytes]) -> int:
        """Append lines under the lock, rotating first whenever the next chunk would not fit.

        Returns how many lines were dropped for being larger than a whole file.
        """
        lines = list(lines)
        with self._thread_lock, _FileLock(self.lock_path):
            # The usual burst fits whole (so none of its lines is too large): one append,
            # the one the loop below would make, without its Python step per line.
            if sum(map(len, lines)) <= self.max_bytes:
                if lines:
                    self._append(b"".join(lines))
                return 0
            chunk: list[bytes] = []
            size = dropped = 0
            for line in lines:
                if len(line) > self.max_bytes:  # could never fit: drop it, keep the bound
                    self.on_too_large()
                    dropped += 1
                    continue
                if size + len(line) > self.max_bytes:
                    self._append(b"".join(chunk))
                    chunk, size = [], 0
                chunk.append(line)
                size += len(line)
            if chunk:
                self._append(b"".join(chunk))
        return dropped

    def _append(self, data: bytes) -> None:
        """Write ``data`` to the log, rotating first if the file would outgrow max_bytes."""
        handle = self._open()
        try:
            size = os.fstat(handle).st_size
            chunk = _fresh_line(handle, size) + data
            if size + len(chunk) > self.max_bytes:
                os.close(handle)
                handle = -1
                self._rotate()
                handle = self._open()
                size = os.fstat(handle).st_size
                chunk = _fresh_line(handle, size) + data
            _write_all_or_nothing(handle, chunk, size)
        finally:
            if handle >= 0:
                os.close(handle)

    def _open(self) -> int:
        # Read as well as append: _fresh_line looks at the last byte.
        return _open_creating(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT)

    def _rotate(self) -> None:
        """log.(N-1) -> log.N, ..., log -> log.1; with no backups the full log is dropped."""
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
            return
        for number in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{number}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{number + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))


def _fresh_line(handle: int, size: int) -> bytes:
    """A newline if the file ends in a cut line (a crash mid-write), else nothing."""
    if size == 0 or os.pread(handle, 1, size - 1) == b"\n":
        return b""
    return b"\n"


def _write_all_or_nothing(handle: int, data: bytes, size: int) -> None:
    """Append all of ``data``; on any failure, truncate the file back to ``size``, so a
    full disk's short write leaves no partial line (the error still reaches the caller)."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(handle, view) :]
    except BaseException:
        # If even this fails, the next append starts on a fresh line (_fresh_line).
        with contextlib.suppress(OSError):
            os.ftruncate(handle, size)
        raise


class StreamLines:
    """Writes lines to an open stream (the worker's stdout) for a platform's log collector.

    One ``write`` call per line: on a pipe (a container's stdout) a write of up to
    PIPE_BUF bytes (4 KiB on Linux) is never interleaved with another process's, so the
    writers of several workers sharing one stdout keep each record on a line of its own.
    The collector, not this process, bounds and rotates what it keeps. A line longer
    than ``max_bytes`` is dropped, as the file sink drops it.
    """

    def __init__(self, fd: int, max_bytes: int, on_too_large: Callable[[], None]) -> None:
        self.fd = fd
        self.max_bytes = max_bytes
        self.on_too_large = on_too_large
        self._thread_lock = threading.Lock()

    def write(self, lines: Iterable[bytes]) -> int:
        """Write each line whole; returns how many were dropped for being too large."""
        dropped = 0
        with self._thread_lock:
            for line in lines:
                if len(line) > self.max_bytes:
                    self.on_too_large()
                    dropped += 1
                    continue
                view = memoryview(line)
                while view:
                    view = view[os.write(self.fd, view) :]
        return dropped


class _FileLock:
    """An exclusive ``flock`` on a lock file beside the log, held for one write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle = -1

    def __enter__(self) -> _FileLock:
        self.handle = _open_creating(self.path, os.O_RDWR | os.O_CREAT)
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        os.close(self.handle)


def _open_creating(path: Path, flags: int) -> int:
    """``os.open`` with mode 0o640, creating the folder if it is missing (deleted logs/)."""
    try:
        return os.open(path, flags, 0o640)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, flags, 0o640)
