"""The drift report as a notification (``make drift NOTIFY=1``).

The text is exactly what the command printed (a copy is kept while it still goes to the
terminal), the HTML page is the one it wrote, and the subject carries the verdict and the
key numbers from the JSON report. A run that gave no verdict is sent too, with its error,
so a cron job that cannot check drift does not fall silent.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any, TextIO

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.notify.report import Report
from {{ cookiecutter.module_name }}.notify.send import send_report
from {{ cookiecutter.module_name }}.storage import read_json

# Features named in a subject; the rest are counted.
NAMED = 3


class _Tee(io.TextIOBase):
    """A text stream that writes to the terminal's stream and to a copy."""

    def __init__(self, stream: TextIO, copy: io.StringIO) -> None:
        self.stream, self.copy = stream, copy

    def write(self, text: str) -> int:
        self.stream.write(text)
        return self.copy.write(text)

    def flush(self) -> None:
        self.stream.flush()


@contextmanager
def teed() -> Iterator[io.StringIO]:
    """Print as usual while keeping a copy of stdout and stderr."""
    copy = io.StringIO()
    with redirect_stdout(_Tee(sys.stdout, copy)), redirect_stderr(_Tee(sys.stderr, copy)):
        yield copy


def _stamp(path: Path) -> tuple[int, int] | None:
    """Identifies one write of a file (reports are replaced atomically: a new inode)."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_ino, status.st_mtime_ns


def subject(report: dict[str, Any] | None, printed: str) -> str:
    """The verdict and key numbers in one line; without a report, the reason."""
    if report is None:
        lines = [line.strip() for line in printed.splitlines() if line.strip()]
        return f"Drift check: no verdict: {lines[-1] if lines else 'the check did not run'}"
    version, rows = report["model_version"], report["current"]["rows"]
    features = report["features"]
    drifted = [name for name, feature in features.items() if feature["status"] == "drift"]
    if drifted:
        named = ", ".join(drifted[:NAMED]) + (
            f" and {len(drifted) - NAMED} more" if len(drifted) > NAMED else ""
        )
        return (
            f"Drift detected in {len(drifted)} of {len(features)} features ({named}), "
            f"model {version}, {rows} records"
        )
    if report["drift_detected"]:
        return f"Drift detected in the predictions of model {version}, {rows} records"
    return f"No drift: model {version}, {rows} records, {len(features)} features checked"


def drift_notice(settings: Settings, printed: str, fresh: bool) -> Report:
    """The notification of one drift run; ``fresh``: it wrote the reports."""
    paths = settings.paths
    report = read_json(paths.drift_report) if fresh else None
    html = paths.drift_html.read_text(encoding="utf-8") if fresh else None
    saved = (str(paths.drift_report), str(paths.drift_html)) if fresh else ()
    return Report(subject(report, printed), printed, html, saved)


def run_and_notify(settings: Settings, run: Callable[[], int]) -> int:
    """Run the drift command, then send what it printed and wrote; its exit code stands."""
    before = _stamp(settings.paths.drift_report)
    with teed() as copy:
        try:
            return run()
        except Exception as error:  # the caller prints it too; the mail must say it
            copy.write(f"error: {error}\n")
            raise
        finally:
            after = _stamp(settings.paths.drift_report)
            fresh = after is not None and after != before
            notice = drift_notice(settings, copy.getvalue(), fresh)
            send_report(settings.notify, notice)
