"""The template repository keeps its own house in order: its hooks pass on every file."""

from __future__ import annotations

import subprocess

from helpers import TEMPLATE, TOOLS


def test_template_repo_hooks_pass_on_every_file() -> None:
    result = subprocess.run(
        [str(TOOLS / "pre-commit"), "run", "--all-files", "--color", "never"],
        cwd=TEMPLATE,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert "Failed" not in result.stdout
