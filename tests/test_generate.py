"""The README's ways to generate a project work: uv, pipx (run through uv) and cruft.

A plain `pip install cookiecutter` into a distribution's own Python is refused on current
Debian and Ubuntu, so the README shows throwaway tool environments instead. These fetch
the tools from the package index, hence slow. (The `.venv/bin/cookiecutter` way is the
one `make demo` runs.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import DEFAULT_SLUG, TEMPLATE, TOOLS, expected_tree, project_files, run

RUNNERS = {
    "uv": ["uv", "tool", "run", "cookiecutter"],
    "pipx": ["uv", "tool", "run", "pipx", "run", "cookiecutter"],  # no pipx here: uv fetches it
}


def tool_env(tmp_path: Path) -> dict[str, str]:
    """The environment with pipx's home in a temporary folder, uv from the template's .venv."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("VIRTUAL_ENV")}
    env["PATH"] = f"{TOOLS}{os.pathsep}{env['PATH']}"
    env["PIPX_HOME"] = str(tmp_path / "pipx")
    env["PIPX_BIN_DIR"] = str(tmp_path / "pipx-bin")
    return env


@pytest.mark.slow
@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_readme_generate_command_bakes_the_project(tmp_path: Path, runner: str) -> None:
    out = tmp_path / "out"
    command = [*RUNNERS[runner], "--no-input", "--output-dir", str(out), str(TEMPLATE)]
    run(command, tmp_path, env=tool_env(tmp_path))
    assert project_files(out / DEFAULT_SLUG) == expected_tree()


@pytest.mark.slow
def test_readme_cruft_create_records_the_origin(tmp_path: Path, template_repo: Path) -> None:
    # cruft clones its template with git, so it reads a committed copy (see conftest.py).
    out = tmp_path / "out"
    command = ["uv", "tool", "run", "cruft", "create", "--no-input", "--output-dir", str(out)]
    run([*command, str(template_repo)], tmp_path, env=tool_env(tmp_path))
    project = out / DEFAULT_SLUG
    assert project_files(project) == sorted([*expected_tree(), ".cruft.json"])
    state = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    assert state["template"] == str(template_repo)
