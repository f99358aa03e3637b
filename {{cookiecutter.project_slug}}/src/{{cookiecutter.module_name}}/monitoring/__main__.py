"""Monitoring commands: ``python -m {{ cookiecutter.module_name }}.monitoring drift|scores``.

A person runs them by hand (``make drift``, ``make scores``): the verdict is printed in
words and the exit code is 0 whenever a verdict was reached, drift or not. Cron jobs and
CI add ``--check`` (``make drift-check``, ``make scores-check``): 0 all is well; 1 drift
crossed a threshold (``drift``) or live metrics fell more than
``monitoring.scores.tolerance`` below training (``scores``). Both: 2 no verdict: bad
usage, missing files, or too few logged records.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from {{ cookiecutter.module_name }}.config import (
    ConfigError,
    Settings,
    load_settings,
)
from {{ cookiecutter.module_name }}.monitoring.drift import (
    compare,
)
from {{ cookiecutter.module_name }}.monitoring.findings import (
    drift_findings,
    drift_next_steps,
    drift_text,
)
from {{ cookiecutter.module_name }}.monitoring.logs import (
    LogFilesError,
    LoggedRecords,
    read_exported,
    read_log,
    window,
)
from {{ cookiecutter.module_name }}.monitoring.notice import (
    run_and_notify,
)
from {{ cookiecutter.module_name }}.monitoring.reference import (
    MonitoringError,
    Reference,
    load_reference,
)
from {{ cookiecutter.module_name }}.monitoring.report import (
    write_html,
)
from {{ cookiecutter.module_name }}.monitoring.scores import (
    describe,
    live_scores,
    read_labels,
)
from {{ cookiecutter.module_name }}.prediction.loader import ModelLoadError
from {{ cookiecutter.module_name }}.prediction.store import ModelStore
from {{ cookiecutter.module_name }}.storage import (
    write_json,
)

EXIT_OK, EXIT_ALERT, EXIT_UNUSABLE = 0, 1, 2


def read_records(settings: Settings, logs: list[str] | None) -> tuple[LoggedRecords, str]:
    """The logged records and where they came from: the files matching ``logs`` (exported
    by a log collector), else the local log ``paths.prediction_log``."""
    if logs:
        try:
            return read_exported(logs), ", ".join(logs)
        except LogFilesError as error:
            raise MonitoringError(str(error)) from None
    return read_log(settings.paths.prediction_log), str(settings.paths.prediction_log)


def run_drift(
    settings: Settings,
    version: str | None = None,
    now: datetime | None = None,
    check: bool = False,
    logs: list[str] | None = None,
) -> int:
    """Write the drift reports of the served (or given) version; with ``check`` the exit
    code says drift.

    ``logs``: glob patterns of files exported from a log collector, read instead of the
    local log.
    """
    reference = load_reference(settings, version)
    options = settings.monitoring.drift
    logged, source = read_records(settings, logs)
    ours = logged.select(logged.meta["model_version"].isin(reference.logged_versions).to_numpy())
    records = window(ours, options.window_days, options.max_records, now or datetime.now(UTC))
    if len(records) < options.min_records:
        raise MonitoringError(
            f"only {len(records)} logged record(s) of model {reference.version} to compare "
            f"({len(logged)} in the log {source}, window_days "
            f"{options.window_days}, max_records {options.max_records}); at least "
            f"{options.min_records} are needed (monitoring.drift.min_records): wait for traffic"
        )
    report = compare(reference, records, options, settings.monitoring.log)
    report = {
        "findings": drift_findings(report),
        "next_steps": drift_next_steps(
            report,
            str(settings.paths.prediction_log),
            rollback_target(settings, reference),
            str(settings.paths.drift_html),
        ),
        **report,
    }
    write_json(settings.paths.drift_report, report)
    write_html(settings.paths.drift_html, report)
    print(drift_text(report))
    verdict = "DRIFT" if report["drift_detected"] else "no drift"
    print(
        f"{verdict} (model {reference.version}, {len(records)} records); reports: "
        f"{settings.paths.drift_report}, {settings.paths.drift_html}"
    )
    return EXIT_ALERT if check and report["drift_detected"] else EXIT_OK


def rollback_target(settings: Settings, reference: Reference) -> str | None:
    """The version ``make rollback`` would put back, when the report is about prod."""
    try:
        pointer = ModelStore(settings.paths.registry).read_pointer()
    except ModelLoadError:  # an unreadable pointer: no advice to roll back
        return None
    if pointer is None or pointer.version != reference.version or not pointer.history:
        return None
    return pointer.history[-1]


def run_scores(
    settings: Settings, labels_path: Path, check: bool = False, logs: list[str] | None = None
) -> int:
    """Write live metrics from a labels file; with ``check`` the exit code says whether
    they degraded."""
    labels = read_labels(labels_path, settings.feature_schema.target)
    report = live_scores(settings, labels, read_records(settings, logs)[0])
    write_json(settings.paths.live_metrics, report)
    print(describe(report))
    print(f"report: {settings.paths.live_metrics}")
    if not report["compared"]:
        print("no verdict: no labelled version has training metrics", file=sys.stderr)
        return EXIT_UNUSABLE
    return EXIT_ALERT if check and report["degraded"] else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}")
    commands = parser.add_subparsers(dest="command", required=True)
    drift = commands.add_parser("drift", help="compare logged requests with the training data")
    drift.add_argument("--version", help="model version to check (default: the served one)")
    drift.add_argument(
        "--notify", action="store_true", help="send the report by email/webhook (params: notify)"
    )
    scores = commands.add_parser("scores", help="live metrics from a CSV of true labels")
    scores.add_argument("labels", type=Path, help="CSV: request_id[, record], <schema.target>")
    for command in (drift, scores):
        command.add_argument(
            "--check", action="store_true", help="exit 1 on drift / degraded scores (cron, CI)"
        )
        command.add_argument(
            "--logs",
            action="append",
            metavar="GLOB",
            help="files exported from a log collector (JSON lines; a glob, ** spans folders; "
            "repeatable) instead of the local prediction log",
        )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits 2 on bad usage, 0 on --help
        return int(exit_.code or 0)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        if args.command == "drift" and args.notify:
            return run_and_notify(
                settings,
                lambda: run_drift(settings, args.version, check=args.check, logs=args.logs),
            )
        if args.command == "drift":
            return run_drift(settings, args.version, check=args.check, logs=args.logs)
        return run_scores(settings, args.labels, check=args.check, logs=args.logs)
    except (ConfigError, MonitoringError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_UNUSABLE


if __name__ == "__main__":
    sys.exit(main())
