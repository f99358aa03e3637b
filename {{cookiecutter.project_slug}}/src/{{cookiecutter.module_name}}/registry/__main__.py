"""``python -m {{ cookiecutter.module_name }}.registry register|models|promote|rollback|retrain``.

Made for ``make``: ``make models``, ``make promote VERSION=v2``, ``make rollback``.
Promotion and rollback ask a person to confirm at the terminal; ``--yes`` (``YES=1``)
is that confirmation given in advance, for a person who already checked the numbers.
Automation (a scheduled retrain) only registers: it never passes ``--yes``.
Every failure ends in one line on stderr and a non-zero exit (``failures.py``).
"""

from __future__ import annotations

import argparse
import sys

from {{ cookiecutter.module_name }}.config import load_settings
from {{ cookiecutter.module_name }}.notify.send import send_report
from {{ cookiecutter.module_name }}.registry import (
    commands,
    failures,
    jobs,
    listing,
    notice,
    retrain,
)
from {{ cookiecutter.module_name }}.registry.lineage import RegistryError


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
    """Print what serves, the versions, warnings and the last changes (see listing.py)."""
    print("\n".join(listing.render(load_settings())))


def run_retrain(commit: bool, check: bool = False, notify: bool = False) -> int:
    """``make retrain``: 0 unless a step failed (the verdict is in words); with ``check``
    (``make retrain-check``, for cron and CI) also 3 when the candidate is worse. With
    ``notify`` the report is sent too: a failed send is one line and changes no exit code."""
    settings = load_settings()
    outcome = retrain.retrain(settings, commit=commit)
    code = outcome.exit_code if check or outcome.status == "failed" else 0
    stream = sys.stderr if code else sys.stdout
    print(f"retrain: {outcome.summary}", file=stream)
    for line in outcome.next_steps:
        print(f"  {line}", file=stream)
    print(
        f"Report: {settings.paths.retrain_report} and {settings.paths.retrain_report_html}",
        file=stream,
    )
    if notify:
        send_report(settings.notify, notice.retrain_notice(settings, outcome))
    return code


def main(argv: list[str] | None = None) -> int:
    """Parse and run; any failure is one line on stderr and exit code 1 (130 on Ctrl-C)."""
    parser = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.module_name }}.registry",
    )
    commands_parser = parser.add_subparsers(dest="command", required=True)
    register = commands_parser.add_parser("register", help="make the last trained model a version")
    register.add_argument("--job", help="register the candidate of this POST /retrain job instead")
    commands_parser.add_parser("models", help="list versions, stage, metric, when, by whom")
    promote = commands_parser.add_parser("promote", help="put a version in prod")
    promote.add_argument("version", help="e.g. v2 or v2.0.0")
    promote.add_argument("--force", metavar="REASON", help="override the gate, saying why")
    promote.add_argument("--reason", help="a note for the audit log")
    promote.add_argument("--yes", action="store_true", help="confirm without asking")
    promote.add_argument(
        "--new-schema",
        action="store_true",
        help="confirm a change of dataset: prod was trained on other columns or another target",
    )
    rollback = commands_parser.add_parser("rollback", help="put the previous prod version back")
    rollback.add_argument("--reason", help="a note for the audit log")
    rollback.add_argument("--yes", action="store_true", help="confirm without asking")
    retrain_parser = commands_parser.add_parser(
        "retrain", help="pull, retrain, compare with prod, report, register (never promotes)"
    )
    retrain_parser.add_argument(
        "--commit", action="store_true", help="commit the new dvc.lock so the candidate registers"
    )
    retrain_parser.add_argument(
        "--check", action="store_true", help="exit 3 when the candidate is worse (cron, CI)"
    )
    retrain_parser.add_argument(
        "--notify", action="store_true", help="send the report by email/webhook (params: notify)"
    )
    args = parser.parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        if failures.debugging():
            raise
        print(f"interrupted; {failures.CHECK_STATE}", file=sys.stderr)
        return 130
    except Exception as error:  # one line for the operator, the traceback on request
        if failures.debugging():
            raise
        print(failures.explain(error), file=sys.stderr)
        return 1


def run(args: argparse.Namespace) -> int:
    """Run the parsed command; its exit code."""
    if args.command == "retrain":
        return run_retrain(commit=args.commit, check=args.check, notify=args.notify)
    if args.command == "models":
        show_models()
        return 0
    settings = load_settings()
    if args.command == "register" and args.job:
        jobs.register_job(settings, args.job)
    elif args.command == "register":
        commands.register(settings)
    elif args.command == "promote":
        commands.promote(
            settings,
            args.version,
            ask(args.yes),
            force=args.force,
            reason=args.reason,
            new_schema=args.new_schema,
        )
    else:
        commands.rollback(settings, ask(args.yes), reason=args.reason)
    return 0


if __name__ == "__main__":
    sys.exit(main())
