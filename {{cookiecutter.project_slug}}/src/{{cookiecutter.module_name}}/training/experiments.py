"""``make experiment``, ``make experiments-queue``, ``make experiment-apply``: DVC experiments.

The Makefile hands over the values a person typed (``SET='model.params.C=0.5 tune.trials=20'``)
as one argument; this splits them like a shell would, without running anything, and calls
``dvc exp`` with one ``--set-param`` each. DVC runs the pipeline with those params, keeps
each run as an experiment (a git ref, no branch, no commit of yours) and compares them.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys

USAGE = "SET='section.key=value [...]', e.g. SET='model.params.C=0.5 model.params.max_iter=500'"


class ExperimentError(ValueError):
    """A value cannot become a DVC experiment; the message says how to write it."""


def set_params(text: str) -> list[str]:
    """One ``--set-param=key=value`` per assignment in ``text`` (split as a shell would)."""
    try:
        assignments = shlex.split(text)
    except ValueError as error:
        raise ExperimentError(f"cannot split {text!r} ({error}): {USAGE}") from None
    wrong = [item for item in assignments if "=" not in item or item.startswith("=")]
    if not assignments or wrong:
        raise ExperimentError(f"{' '.join(wrong) or 'nothing'} is not key=value: {USAGE}")
    return [f"--set-param={item}" for item in assignments]


def has_commit() -> bool:
    """DVC experiments start from a commit: is there one?"""
    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", "HEAD"], capture_output=True, check=False
    )
    return found.returncode == 0


def commands(action: str, value: str | None, jobs: int) -> list[list[str]]:
    """The ``dvc exp`` commands an action runs, in order."""
    if action == "run":
        return [["dvc", "exp", "run", *set_params(value or "")]]
    if action == "queue":
        queued = [["dvc", "exp", "run", "--queue", *set_params(value)]] if value else []
        return [*queued, ["dvc", "exp", "run", "--run-all", f"--jobs={jobs}"]]
    if not value:
        raise ExperimentError("name the experiment: NAME=<name from make experiments>")
    return [["dvc", "exp", "apply", "--", value]]


def main(argv: list[str] | None = None) -> int:
    """Run the DVC commands of one action; exit 2 with a readable message on a bad value."""
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}.experiments")
    parser.add_argument("action", choices=["run", "queue", "apply"])
    parser.add_argument("--jobs", type=int, default=2, help="experiments run at a time (queue)")
    parser.add_argument("value", nargs="?", help="SET (run, queue) or NAME (apply)")
    args = parser.parse_args(argv)
    try:
        steps = commands(args.action, args.value, max(args.jobs, 1))
    except ExperimentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not has_commit():
        print(
            "error: DVC experiments start from a commit: commit first "
            "(git add -A && git commit -m 'Baseline')",
            file=sys.stderr,
        )
        return 1
    for step in steps:
        code = subprocess.run(step, check=False).returncode
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
