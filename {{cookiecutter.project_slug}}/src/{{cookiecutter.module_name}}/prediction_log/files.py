"""The prediction log: one JSON line per served record, for drift and live-score monitoring.

Each line holds ``time`` (UTC, ISO 8601), ``request_id``, ``record`` (the index in the
request), ``model_version``, ``prediction`` and ``features`` (the validated values; columns
in ``monitoring.log.exclude`` dropped, those in ``monitoring.log.hash`` replaced by a sha256
prefix). gunicorn runs several worker processes on one file, so every write happens under
an exclusive ``flock`` of ``<log>.lock``: size check, rotation and append are one step, and
the files never exceed ``max_bytes * (backups + 1)`` together. Rotation renames
``log -> log.1 -> log.2 ...`` and drops the oldest, like ``logging.RotatingFileHandler``.

Logging must never cost a client its answer: a request only hands its body to a writer
process (``client.py`` in the worker), which types and encodes the records and
appends them through this module (``writer.py``). ``PredictionLog.log_groups`` (and
``log``, the same for a DataFrame, for tests and scripts) catches every error (a full
disk, a read-only folder), reports it through ``on_error`` (counted in Prometheus by the
worker) and a rate-limited warning, and returns False.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the writer process imports this module: it must stay light (no pandas)
    import pandas as pd

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# A client's id is kept only if it is short and plain: it ends up in files and headers.
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
HASH_DIGITS = 16
# At most one warning per this many seconds per process: a full disk must not flood the log.
WARN_EVERY = 60.0


# Counts records lost, by reason (prediction_log_errors_total{reason} in the worker).
ErrorCounter = Callable[[str, int], None]


def never_raising(on_error: ErrorCounter) -> ErrorCounter:
    """``on_error`` that cannot fail its caller: counting a loss must not cost a request."""

    def count(reason: str, records: int) -> None:
        try:
            on_error(reason, records)
        except Exception:
            log.debug("could not count a prediction log error", exc_info=True)

    return count


# A column name -> its values, one per record.
Columns = Mapping[str, Sequence[Any]]
# (model version, columns, [(request id, time, records)], labels): see PredictionLog.lines.
Group = tuple[str, Columns, Sequence[tuple[str, datetime | None, int]], Sequence[str]]


def request_id(sent: str | None) -> str:
    """The client's ``X-Request-ID`` when it is safe to echo and store, else a fresh uuid4."""
    if sent and SAFE_REQUEST_ID.match(sent):
        return sent
    return uuid.uuid4().hex


def hash_value(value: Any, salt: str) -> str | None:
    """The first hex digits of sha256(salt + value); a missing value stays missing."""
    if value is None:
        return None
    return hashlib.sha256(f"{salt}{value}".encode()).hexdigest()[:HASH_DIGITS]


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


class PredictionLog:
    """Appends records to a size-bounded, rotated JSON-lines file; safe across processes."""

    def __init__(
        self,
        path: Path,
        max_bytes: int,
        backups: int,
        exclude: Sequence[str] = (),
        hashed: Sequence[str] = (),
        salt: str = "",
        on_error: ErrorCounter | None = None,
    ) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(f"{self.path.name}.lock")
        self.max_bytes = max_bytes
        self.backups = backups
        self.exclude = frozenset(exclude)
        self.hashed = frozenset(hashed)
        self.salt = salt
        self.on_error = never_raising(on_error or (lambda reason, records: None))
        self._thread_lock = threading.Lock()  # flock guards processes; this guards threads
        self._last_warning = -WARN_EVERY

    def log(
        self,
        request: str,
        model_version: str,
        features: pd.DataFrame,
        labels: Sequence[str],
        stamp: datetime | None = None,
    ) -> bool:
        """Append one line per record; never raises. False when nothing (or not all) was written."""
        # One conversion for the whole frame: a pandas column access per name costs more.
        table = features.to_numpy(dtype=object).T.tolist() if len(features.columns) else []
        columns = dict(zip(features.columns, table, strict=True))
        return self.log_groups([(model_version, columns, [(request, stamp, len(labels))], labels)])

    def log_groups(self, groups: Sequence[Group]) -> bool:
        """Append several requests' records in one write. A group is ``lines``'s arguments:
        the requests of one model version with their records in one frame, so that a
        burst of small requests costs one encoding pass, not one per request."""
        records = sum(len(group[3]) for group in groups)
        try:
            lines = [line for group in groups for line in self.lines(*group)]
            dropped = self.write(lines)
        except OSError as error:
            reason = errno.errorcode.get(error.errno or 0, "OSError")
            self.report_failure(reason, error, records)
            return False
        except Exception as error:  # a bug here must still not cost a record its line
            self.report_failure(type(error).__name__, error, records)
            return False
        return dropped == 0

    def lines(
        self,
        model_version: str,
        features: Columns,
        requests: Sequence[tuple[str, datetime | None, int]],
        labels: Sequence[str],
    ) -> list[bytes]:
        """The JSON lines (UTF-8, newline-terminated) of ``requests``: (request id, time,
        record count) each, whose records are the rows of ``features`` (columns), in order.

        Built column by column, each distinct value encoded once: encoding a dict per
        record costs several times more.
        """
        names = [name for name in features if name not in self.exclude]
        keys = [_ENCODER.encode(str(name)) + ":" for name in names]
        columns = [self._encoded(name, features[name]) for name in names]
        # Rows of encoded values (empty rows when every column is excluded).
        rows = list(zip(*columns, strict=True)) if columns else [()] * len(labels)
        if len(rows) != len(labels) or len(labels) != sum(count for *_, count in requests):
            raise ValueError("the features, labels and request sizes do not match")
        version = _ENCODER.encode(model_version)
        encoded_labels = _Encoded()
        lines: list[bytes] = []
        start = 0
        for request, stamp, count in requests:
            when = (stamp or datetime.now(UTC)).isoformat(timespec="milliseconds")
            head = "".join(
                [
                    '{"time":',
                    _ENCODER.encode(when),
                    ',"request_id":',
                    _ENCODER.encode(request),
                    ',"model_version":',
                    version,
                    ',"record":',
                ]
            )
            lines += [
                (
                    f"{head}{index},"
                    f'"prediction":{encoded_labels[labels[start + index]]},"features":'
                    + "{"
                    + ",".join(
                        key + value for key, value in zip(keys, rows[start + index], strict=True)
                    )
                    + "}"
                    + "}\n"
                ).encode()
                for index in range(count)
            ]
            start += count
        return lines

    def _encoded(self, name: str, values: Sequence[Any]) -> list[str]:
        """A column's values as JSON text: NaN becomes null, hashed columns are hashed."""
        if name in self.hashed:
            hashed = _Encoded(lambda value: hash_value(_plain(value), self.salt))
            return [hashed[value] for value in values]
        encoded = _Encoded(_plain)
        return [encoded[value] for value in values]

    def write(self, lines: Iterable[bytes]) -> int:
        """Append lines under the lock, rotating first whenever the next chunk would not fit.

        Returns how many lines were dropped for being larger than a whole file.
        """
        with self._thread_lock, self._process_lock():
            chunk: list[bytes] = []
            size = dropped = 0
            for line in lines:
                if len(line) > self.max_bytes:  # could never fit: drop it, keep the bound
                    self.report_failure(
                        "record_too_large",
                        f"a record is larger than monitoring.log.max_bytes {self.max_bytes}",
                    )
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

    def _process_lock(self) -> _FileLock:
        return _FileLock(self.lock_path)

    def _append(self, data: bytes) -> None:
        """Write ``data`` to the log, rotating first if the file would outgrow max_bytes."""
        handle = self._open()
        try:
            if os.fstat(handle).st_size + len(data) > self.max_bytes:
                os.close(handle)
                handle = -1
                self._rotate()
                handle = self._open()
            view = memoryview(data)
            while view:
                view = view[os.write(handle, view) :]
        finally:
            if handle >= 0:
                os.close(handle)

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        except FileNotFoundError:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

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

    def report_failure(self, reason: str, error: BaseException | str, records: int = 1) -> None:
        """Count the records lost (all of a failed write's: some may have made it before
        the error); warn at most once per WARN_EVERY seconds."""
        self.on_error(reason, records)
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY:
            self._last_warning = now
            log.warning(
                "prediction log %s: record(s) not written (%s: %s); requests are still "
                "answered. Further failures are counted in prediction_log_errors_total",
                self.path,
                reason,
                error,
            )


class _FileLock:
    """An exclusive ``flock`` on a lock file beside the log, held for one write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle = -1

    def __enter__(self) -> _FileLock:
        try:
            self.handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o640)
        except FileNotFoundError:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o640)
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        os.close(self.handle)


def _plain(value: Any) -> Any:
    """The value JSON can hold: NaN (a missing number) and infinities become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class _Encoded(dict[Any, str]):
    """value -> its JSON text (after ``convert``), computed once per distinct value."""

    def __init__(self, convert: Callable[[Any], Any] = _plain) -> None:
        super().__init__()
        self.convert = convert

    def __missing__(self, value: Any) -> str:
        text = _ENCODER.encode(self.convert(value))
        self[value] = text
        return text
