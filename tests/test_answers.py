"""Bad answers are refused with a clear message; awkward ones bake into valid code."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException
from helpers import AWKWARD, TEMPLATE, assert_lint_clean, bake, expected_tree, project_files
from jinja2 import Environment


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"project_slug": "Bad Slug"}, "project_slug 'Bad Slug' is not a valid"),
        ({"project_slug": "-leading"}, "project_slug '-leading' is not a valid"),
        ({"module_name": "2fast"}, "module_name '2fast' is not a valid"),
        ({"module_name": "has-hyphen"}, "module_name 'has-hyphen' is not a valid"),
        ({"module_name": "class"}, "module_name 'class' is not a valid"),
        ({"module_name": "json"}, "shadow the standard library"),
    ],
)
def test_invalid_answers_are_rejected(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], answers: dict, message: str
) -> None:
    with pytest.raises(FailedHookException):
        bake(tmp_path, **answers)
    assert message in capfd.readouterr().err
    assert not any(tmp_path.iterdir()), "nothing may be written for rejected answers"


def run_pre_gen_hook(tmp_path: Path, **answers: str) -> subprocess.CompletedProcess[str]:
    """Render the pre-generation hook with the default answers changed, and run it.

    Cookiecutter already refuses an unlisted value for a choice variable from the
    command line; this proves the hook also refuses it when it arrives another way
    (a replay file, an edited cookiecutter.json, cruft).
    """
    context = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
    context = {
        key: value[0] if isinstance(value, list) else value for key, value in context.items()
    }
    context.update(project_slug="penguin-classifier", module_name="penguin_classifier", **answers)
    source = (TEMPLATE / "hooks/pre_gen_project.py").read_text(encoding="utf-8")
    script = tmp_path / "pre_gen_project.py"
    script.write_text(Environment().from_string(source).render(cookiecutter=context))
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("python_version", ["3.10", "2.7", "4"])
def test_unsupported_python_is_rejected_by_the_hook(tmp_path: Path, python_version: str) -> None:
    result = run_pre_gen_hook(tmp_path, python_version=python_version)
    assert result.returncode == 1
    assert f"python_version '{python_version}' is not supported" in result.stderr
    assert "3.11, 3.12, 3.13" in result.stderr


def test_unsupported_python_is_rejected_on_the_command_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"3\.10 provided for choice variable python_version"):
        bake(tmp_path, python_version="3.10")


def test_the_hook_accepts_the_defaults(tmp_path: Path) -> None:
    result = run_pre_gen_hook(tmp_path)
    assert result.returncode == 0, result.stderr


def test_awkward_answers_bake_and_parse(tmp_path: Path) -> None:
    project = bake(tmp_path, **AWKWARD)
    assert project.name == "zoe-s-quoted-unicode-project"
    module = "zoe_s_quoted_unicode_project"
    assert project_files(project) == expected_tree(module=module)
    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert meta["description"] == AWKWARD["description"]
    assert meta["authors"][0]["name"] == AWKWARD["author_name"]
    for path in project.rglob("*.py"):
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    assert AWKWARD["project_name"] in (project / "README.md").read_text(encoding="utf-8")
    assert AWKWARD["author_name"] in (project / "LICENSE").read_text(encoding="utf-8")


def test_long_module_name_stays_lint_clean(tmp_path: Path) -> None:
    project = bake(tmp_path, project_name="Customer Lifetime Value Churn Propensity Model")
    assert_lint_clean(project)


@pytest.mark.parametrize("python_version", ["3.11", "3.12", "3.13"])
def test_each_python_version_bakes(tmp_path: Path, python_version: str) -> None:
    project = bake(tmp_path, python_version=python_version)
    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["requires-python"] == f">={python_version}"
    assert meta["tool"]["ruff"]["target-version"] == "py" + python_version.replace(".", "")
