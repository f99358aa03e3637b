"""The Makefile hands every value a user gives it to its program as data, never as code.

Each target that takes a value runs with values built to break out of shell quoting or
to make ``make`` run a command. The project's Makefile runs in a temporary folder whose
``.venv/bin`` holds stand-in ``python`` and ``uv`` scripts that only record their
arguments: nothing of the project (registry, logs, reports) is read or written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

MAKEFILE = Path(__file__).resolve().parents[1] / "Makefile"
# Each runs `touch MARKER` (a temporary path) if a shell or make re-reads the value as code.
ATTACKS = (
    'v1"; touch MARKER; echo "',
    "v1'; touch MARKER; echo '",
    "$(touch MARKER)",
    "`touch MARKER`",
    "$(shell touch MARKER)",
    "${IFS}touch${IFS}MARKER",
    "-v1 --yes; touch MARKER",
)
# target -> (the value under test, other values it needs to get that far)
CASES = [
    ("promote", "VERSION", {}),
    ("promote", "FORCE", {"VERSION": "v1"}),
    ("promote", "REASON", {"VERSION": "v1"}),
    ("rollback", "REASON", {}),
    ("register", "JOB", {}),
    ("predict", "INPUT", {}),
    ("score", "INPUT", {"OUTPUT": "out.csv"}),
    ("score", "OUTPUT", {"INPUT": "in.csv"}),
    ("score", "ERRORS", {"INPUT": "in.csv", "OUTPUT": "out.csv"}),
    ("score", "ENGINE", {"INPUT": "in.csv", "OUTPUT": "out.csv"}),
    ("score", "WORKERS", {"INPUT": "in.csv", "OUTPUT": "out.csv"}),
    ("score", "SCHEDULER", {"INPUT": "in.csv", "OUTPUT": "out.csv"}),
    ("score-check", "INPUT", {"OUTPUT": "out.csv"}),
    ("score-check", "OUTPUT", {"INPUT": "in.csv"}),
    ("scores", "LABELS", {}),
    ("lock", "LOCK_PYTHON", {}),
    ("experiment", "SET", {}),
    ("experiments-queue", "SET", {}),
    ("experiments-queue", "JOBS", {}),
    ("experiment-apply", "NAME", {}),
]
RECORDER = '#!/bin/sh\nprintf "%s\\0" "$@" > "$ARGS_FILE"\n'

pytestmark = pytest.mark.skipif(
    shutil.which("make") is None or shutil.which("bash") is None,
    reason="make and bash are needed to run the Makefile's targets",
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder for the Makefile to run in, with recording stand-ins for python and uv."""
    bin_folder = tmp_path / ".venv" / "bin"
    bin_folder.mkdir(parents=True)
    for name in ("python", "uv"):
        (bin_folder / name).write_text(RECORDER, encoding="utf-8")
        (bin_folder / name).chmod(0o755)
    (tmp_path / "requirements").mkdir()
    return tmp_path


def run_make(folder: Path, target: str, values: dict[str, str]) -> list[str] | None:
    """Run ``make TARGET NAME=value...`` in ``folder``; the arguments a stand-in got, if run."""
    args_file = folder / "args"
    args_file.unlink(missing_ok=True)
    # Only a clean environment: an outer make (make test) exports its own variables.
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    env["ARGS_FILE"] = str(args_file)
    subprocess.run(
        ["make", "--no-print-directory", "-f", str(MAKEFILE), "-C", str(folder), target]
        + [f"{name}={value}" for name, value in values.items()],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    if not args_file.exists():
        return None
    return args_file.read_text(encoding="utf-8").split("\0")[:-1]


@pytest.mark.parametrize(("target", "name", "needed"), CASES)
def test_a_value_reaches_the_program_as_one_argument_and_never_runs(
    folder: Path, target: str, name: str, needed: dict[str, str]
) -> None:
    for attack in ATTACKS:
        marker = folder / "pwned"
        value = attack.replace("MARKER", str(marker))
        received = run_make(folder, target, {**needed, name: value})
        assert not marker.exists(), f"make {target} {name}={value!r} ran a command"
        assert received is not None, f"make {target} {name}={value!r} did not run its program"
        # As one argument, exactly as typed: alone after --, or whole in --option=value.
        assert value in received or any(arg.endswith(f"={value}") for arg in received), (
            f"make {target} {name}={value!r} passed {received}"
        )
        if value in received and target != "lock":
            assert received[received.index(value) - 1] == "--", received


def test_the_python_that_creates_the_virtualenv_is_a_program_name_not_a_command(
    tmp_path: Path,
) -> None:
    for attack in ATTACKS:
        marker = tmp_path / "pwned"
        value = attack.replace("MARKER", str(marker))
        run_make(tmp_path, "setup", {"PYTHON": value})
        assert not marker.exists(), f"make setup PYTHON={value!r} ran a command"
