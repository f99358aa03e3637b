"""Prediction stays independent of training: the import-linter contracts hold."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import {{ cookiecutter.module_name }}


def test_import_contracts_hold() -> None:
    lint_imports = shutil.which("lint-imports") or str(
        Path(sys.executable).with_name("lint-imports")
    )
    project = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [lint_imports], cwd=project, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # lint-imports wraps long lines at the terminal's width: compare words, not lines.
    report = " ".join(result.stdout.split())
    for contract in (
        "Prediction never imports training",
        "Prediction never imports the registry (it reads only the model store)",
        "Prediction never imports monitoring (the serving image does not ship it)",
    ):
        assert f"{contract} KEPT" in report, result.stdout


def test_importing_the_app_loads_no_training_code() -> None:
    package = {{ cookiecutter.module_name }}.__name__
    code = (
        f"import sys, {package}.prediction.app\n"
        f"bad = [m for m in sys.modules if m.startswith(('{package}.training', '{package}.registry', "
        f"'{package}.monitoring'))"
        " or m in ('dvc', 'gto')]\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
