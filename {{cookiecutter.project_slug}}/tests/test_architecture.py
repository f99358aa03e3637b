"""The packages keep their places: the import-linter contracts hold, and each one bites."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

import {{ cookiecutter.module_name }}

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE = {{ cookiecutter.module_name }}.__name__


def contracts() -> list[dict[str, Any]]:
    """The import-linter contracts of pyproject.toml."""
    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))
    return pyproject["tool"]["importlinter"]["contracts"]


def lint_imports(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run lint-imports in ``project``; return its output with lines unwrapped.

    lint-imports wraps long lines at the terminal's width: the words are compared, not lines.
    """
    command = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    result = subprocess.run(
        [command, "--no-cache", *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    return f"exit {result.returncode}: " + " ".join((result.stdout + result.stderr).split())


def test_every_contract_holds() -> None:
    report = lint_imports(PROJECT)
    assert report.startswith("exit 0:"), report
    for contract in contracts():
        assert f"{contract['name']} KEPT" in " ".join(report.split()), report


@pytest.mark.parametrize("contract", contracts(), ids=lambda contract: contract["id"])
def test_each_contract_fails_when_its_rule_is_broken(
    contract: dict[str, Any], tmp_path: Path
) -> None:
    """A copy of the sources with one forbidden import per forbidden module is refused."""
    shutil.copytree(PROJECT / "src", tmp_path / "src")
    shutil.copy(PROJECT / "pyproject.toml", tmp_path)
    source = contract["source_modules"][0]
    relative = Path(*source.split("."))
    planted = (
        tmp_path / "src" / relative / "_planted.py"
        if (tmp_path / "src" / relative).is_dir()
        else tmp_path / "src" / relative.with_suffix(".py")
    )
    imports = "".join(
        f"\nimport {module}  # planted by the test\n" for module in contract["forbidden_modules"]
    )
    with planted.open("a", encoding="utf-8") as stream:
        stream.write(imports)
    # The copy comes first on the path, before the project's editable install.
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
    report = lint_imports(tmp_path, "--contract", contract["id"], env=env)
    assert report.startswith("exit 1:"), report
    assert f"{contract['name']} BROKEN" in report, report
    for module in contract["forbidden_modules"]:
        assert f"is not allowed to import {module}" in report, (module, report)


def test_serving_and_batch_load_no_training_code() -> None:
    for entry in (f"{PACKAGE}.serving.app", f"{PACKAGE}.batch.__main__"):
        code = (
            f"import sys, {entry}\n"
            f"bad = [m for m in sys.modules if m.startswith(('{PACKAGE}.training', "
            f"'{PACKAGE}.registry', '{PACKAGE}.monitoring', '{PACKAGE}.packaging'))"
            " or m in ('dvc', 'gto')]\n"
            "print(bad)\n"
            "sys.exit(1 if bad else 0)"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, (entry, result.stdout + result.stderr)
