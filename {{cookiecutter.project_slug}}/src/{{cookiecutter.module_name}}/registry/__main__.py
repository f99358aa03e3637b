"""``python -m {{ cookiecutter.module_name }}.registry register|models|promote|rollback|retrain``.

Made for ``make``: ``make models``, ``make promote VERSION=v2``, ``make rollback``.
Promotion and rollback ask a person to confirm at the terminal; ``--yes`` (``YES=1``)
is that confirmation given in advance, for a person who already checked the numbers.
Automation (a scheduled retrain) only registers: it never passes ``--yes``.
"""

from __future__ import annotations

import argparse
import sys

from {{ cookiecutter.module_name }}.config import (
    ConfigError,
    load_settings,
)
from {{ cookiecutter.module_name }}.prediction.loader import ModelLoadError
from {{ cookiecutter.module_name }}.prediction.store import ModelStore
from {{ cookiecutter.module_name }}.registry import (
    commands,
    listing,
    publish,
    retrain,
)
from {{ cookiecutter.module_name }}.registry.lineage import RegistryError

RECENT_EVENTS = 5


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Plain aligned columns, readable in any terminal and in a CI log."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [header, ["-" * width for width in widths], *rows]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def ask(assume_yes: bool) -> commands.Confirm:
    """A confirmation: given in advance, asked at a terminal, else refused."""

    def confirm(question: str) -> bool:
        if assume_yes:
            return True
        if not sys.stdin.isatty():
            raise RegistryError(
                "this needs a person's confirmation: run it in a terminal to answer the "
                "question, or add YES=1 (--yes) once you have checked the numbers above"
            )
        try:
            return input(f"{question} [y/N] ").strip().lower() in {"y", "yes"}
        except EOFError:  # the terminal closed: no answer is a no
            return False

    return confirm


def show_models() -> None:
    """Print the versions table, warnings and the last audit events."""
    settings = load_settings()
    rows, warnings = listing.list_models(settings)
    if not rows:
        print("No registered versions yet. Train (make train), commit, then: make register")
    else:
        metric = settings.evaluate.metric
        header = ["VERSION", "STAGE", metric.upper(), "REGISTERED (UTC)", "BY", "COMMIT", "DATA"]
        body = [
            [
                row.version,
                row.stage,
                "" if row.metric is None else f"{row.metric:.4f}",
                row.registered_at.replace("T", " ").replace("+00:00", ""),
                row.registered_by,
                row.commit,
                row.data,
            ]
            for row in rows
        ]
        print(format_table(header, body))
    for warning in warnings:
        print(f"warning: {warning}")
    events = publish.read_audit(ModelStore(settings.paths.registry))[-RECENT_EVENTS:]
    if events:
        print("\nLast changes to prod:")
        for event in events:
            forced = " (FORCED)" if event.get("forced") else ""
            print(
                f"  {event['at']}  {event['event']}{forced} {event['from'] or 'none'} -> "
                f"{event['to']}  by {event['by']}: {event['reason']}"
            )


def run_retrain(commit: bool) -> int:
    """``make retrain``: the outcome's exit code, after saying where the report is."""
    settings = load_settings()
    outcome = retrain.retrain(settings, commit=commit)
    stream = sys.stderr if outcome.exit_code else sys.stdout
    print(f"retrain: {outcome.summary}", file=stream)
    for line in outcome.next_steps:
        print(f"  {line}", file=stream)
    print(
        f"Report: {settings.paths.retrain_report} and {settings.paths.retrain_report_html}",
        file=stream,
    )
    return outcome.exit_code


def main(argv: list[str] | None = None) -> int:
    """Dispatch; a refusal or user error is one line on stderr and exit code 1."""
    parser = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.module_name }}.registry",
    )
    commands_parser = parser.add_subparsers(dest="command", required=True)
    commands_parser.add_parser("register", help="make the last trained model a version")
    commands_parser.add_parser("models", help="list versions, stage, metric, when, by whom")
    promote = commands_parser.add_parser("promote", help="put a version in prod")
    promote.add_argument("version", help="e.g. v2 or v2.0.0")
    promote.add_argument("--force", metavar="REASON", help="override the gate, saying why")
    promote.add_argument("--reason", help="a note for the audit log")
    promote.add_argument("--yes", action="store_true", help="confirm without asking")
    rollback = commands_parser.add_parser("rollback", help="put the previous prod version back")
    rollback.add_argument("--reason", help="a note for the audit log")
    rollback.add_argument("--yes", action="store_true", help="confirm without asking")
    retrain_parser = commands_parser.add_parser(
        "retrain", help="pull, retrain, compare with prod, report, register (never promotes)"
    )
    retrain_parser.add_argument(
        "--commit", action="store_true", help="commit the new dvc.lock so the candidate registers"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "retrain":
            return run_retrain(commit=args.commit)
        if args.command == "models":
            show_models()
            return 0
        settings = load_settings()
        if args.command == "register":
            commands.register(settings)
        elif args.command == "promote":
            commands.promote(
                settings, args.version, ask(args.yes), force=args.force, reason=args.reason
            )
        else:
            commands.rollback(settings, ask(args.yes), reason=args.reason)
    except (RegistryError, ConfigError, ModelLoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
