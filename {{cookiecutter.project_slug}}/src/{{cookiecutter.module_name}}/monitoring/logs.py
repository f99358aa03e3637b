"""Read the prediction log into data frames: the live file and its rotated copies, or the
files a cluster's log collector exported (``monitoring.log.sink: stdout``).

A collector's files hold the worker's standard output: prediction records, one JSON line
each, perhaps among other lines and perhaps wrapped in the collector's own JSON (Docker's
and Kubernetes' ``{"log": "<line>", ...}``, or a ``message`` field): records are unwrapped,
anything else is skipped and counted.
"""

from __future__ import annotations

import glob
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from {{ cookiecutter.module_name }}.prediction_log.rotating_file import (
    log_files,
)

log = logging.getLogger(__name__)

META = ("time", "request_id", "record", "model_version", "prediction")


@dataclass(frozen=True)
class LoggedRecords:
    """Logged records, oldest first: ``meta`` (the META columns) and ``features`` share
    one index."""

    meta: pd.DataFrame
    features: pd.DataFrame

    def __len__(self) -> int:
        return len(self.meta)

    def select(self, mask: Any) -> LoggedRecords:
        """The records where ``mask`` (a boolean array or Series) holds."""
        return LoggedRecords(
            self.meta[mask].reset_index(drop=True),
            self.features[mask].reset_index(drop=True),
        )

    def tail(self, count: int) -> LoggedRecords:
        """The last ``count`` records."""
        return self.select(np.arange(len(self)) >= len(self) - count)

    def since(self, start: datetime) -> LoggedRecords:
        """Records logged at or after ``start`` (timezone-aware)."""
        return self.select((self.meta["time"] >= pd.Timestamp(start)).to_numpy())


class LogFilesError(ValueError):
    """A pattern given for exported log files matches no file."""


def exported_files(patterns: Sequence[str]) -> list[Path]:
    """The files the glob ``patterns`` match (``**`` spans folders), sorted, each once."""
    files: dict[Path, None] = {}
    for pattern in patterns:
        matched = sorted(Path(name) for name in glob.glob(pattern, recursive=True))
        matched = [path for path in matched if path.is_file()]
        if not matched:
            raise LogFilesError(
                f"no file matches {pattern!r}: give the files your log collector exported "
                "(JSON lines), e.g. --logs 'exports/*.jsonl'"
            )
        files.update(dict.fromkeys(matched))
    return list(files)


def read_log(path: Path) -> LoggedRecords:
    """Every whole record of the log at ``path`` and its rotated files; lines that are not
    (cut by a crash or a full disk) are skipped with a warning."""
    return read_files(log_files(path))


def read_exported(patterns: Sequence[str]) -> LoggedRecords:
    """Every record in the files a log collector exported, oldest first (by time: the
    files of several replicas interleave)."""
    records = read_files(exported_files(patterns))
    order = records.meta["time"].argsort(kind="stable").to_numpy()
    return LoggedRecords(
        records.meta.iloc[order].reset_index(drop=True),
        records.features.iloc[order].reset_index(drop=True),
    )


def read_files(files: Sequence[Path]) -> LoggedRecords:
    """Every whole record of ``files``, in order; other lines are skipped with a warning."""
    rows: list[dict[str, Any]] = []
    skipped = 0
    for file in files:
        with open(file, encoding="utf-8", errors="replace") as stream:
            for line in stream:
                record = _parse(line)
                if record is None:
                    skipped += 1
                else:
                    rows.append(record)
    if skipped:
        log.warning("%d line(s) of the prediction log are not whole records; skipped", skipped)
    meta = pd.DataFrame({name: [row[name] for row in rows] for name in META})
    meta["time"] = pd.to_datetime(meta["time"], utc=True, format="ISO8601")
    meta["record"] = meta["record"].astype("int64")
    for name in ("request_id", "model_version", "prediction"):
        meta[name] = meta[name].astype(str)
    features = pd.DataFrame([row["features"] for row in rows], index=meta.index)
    return LoggedRecords(meta, features)


def window(
    records: LoggedRecords, days: float | None, last: int | None, now: datetime
) -> LoggedRecords:
    """Records of the last ``days`` before ``now`` (None: all), then the last ``last`` of them."""
    if days is not None:
        records = records.since(now - timedelta(days=days))
    if last is not None:
        records = records.tail(last)
    return records


def _parse(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if isinstance(record, dict) and "features" not in record:  # a collector's wrapper
        inner = record.get("log", record.get("message"))
        if isinstance(inner, str):
            return _parse(inner)
    if not isinstance(record, dict) or not isinstance(record.get("features"), dict):
        return None
    if any(name not in record for name in META) or not isinstance(record["record"], int):
        return None
    try:
        datetime.fromisoformat(str(record["time"]))
    except ValueError:
        return None
    return record
