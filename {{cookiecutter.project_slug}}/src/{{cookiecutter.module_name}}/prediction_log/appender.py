"""PredictionLog: encodes records and appends them to the log files, never raising.

Logging must never cost a client its answer: a request only hands its body to a writer
process (``client.py`` in the worker), which types the records and appends them through
this class (``writer.py``). ``PredictionLog.log_groups`` (and ``log``, the same for a
DataFrame, for tests and scripts) catches every error (a full disk, a read-only folder),
reports it through ``on_error`` (counted in Prometheus by the worker) and a rate-limited
warning, and returns False.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from {{ cookiecutter.module_name }}.prediction_log.line_format import (
    Group,
    LineEncoder,
)
from {{ cookiecutter.module_name }}.prediction_log.rotating_file import (
    RotatingFile,
    StreamLines,
)

if TYPE_CHECKING:  # the writer process imports this module: it must stay light (no pandas)
    import pandas as pd

log = logging.getLogger(__name__)

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


class PredictionLog:
    """Appends records to a size-bounded, rotated JSON-lines file; safe across processes.

    With ``stream_fd`` (``monitoring.log.sink: stdout``) the same lines go to that stream
    instead (the worker's standard output, read by a cluster's log collector).
    """

    def __init__(
        self,
        path: Path,
        max_bytes: int,
        backups: int,
        exclude: Sequence[str] = (),
        hashed: Sequence[str] = (),
        salt: str = "",
        on_error: ErrorCounter | None = None,
        stream_fd: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.encoder = LineEncoder(exclude, hashed, salt)
        self.file: RotatingFile | StreamLines = (
            RotatingFile(self.path, max_bytes, backups, self._count_too_large)
            if stream_fd is None
            else StreamLines(stream_fd, max_bytes, self._count_too_large)
        )
        self.on_error = never_raising(on_error or (lambda reason, records: None))
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
        """Append several requests' records in one write. A group is ``LineEncoder.lines``'s
        arguments: the requests of one model version with their records in one frame, so
        that a burst of small requests costs one encoding pass, not one per request."""
        records = sum(len(group[3]) for group in groups)
        try:
            lines = [line for group in groups for line in self.encoder.lines(*group)]
            dropped = self.file.write(lines)
        except OSError as error:
            reason = errno.errorcode.get(error.errno or 0, "OSError")
            self.report_failure(reason, error, records)
            return False
        except Exception as error:  # a bug here must still not cost a record its line
            self.report_failure(type(error).__name__, error, records)
            return False
        return dropped == 0

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

    def _count_too_large(self) -> None:
        self.report_failure(
            "record_too_large",
            f"a record is larger than monitoring.log.max_bytes {self.file.max_bytes}",
        )
