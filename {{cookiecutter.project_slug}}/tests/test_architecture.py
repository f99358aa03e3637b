"""The packages keep their places: the import-linter contracts hold, and each one bites; no
module imports itself through others (an import cycle)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import grimp
import pytest

import {{ cookiecutter.module_name }}

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE = {{ cookiecutter.module_name }}.__name__


def contracts(kind: str | None = None) -> list[dict[str, Any]]:
    """The import-linter contracts of pyproject.toml (only those of type ``kind`` if given)."""
    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))
    found = pyproject["tool"]["importlinter"]["contracts"]
    return [contract for contract in found if kind in (None, contract["type"])]


def copy_project(tmp_path: Path) -> dict[str, str]:
    """A copy of the sources and pyproject.toml to plant imports in; the environment that
    puts the copy first on the path, before the project's editable install."""
    shutil.copytree(PROJECT / "src", tmp_path / "src")
    shutil.copy(PROJECT / "pyproject.toml", tmp_path)
    return {**os.environ, "PYTHONPATH": str(tmp_path / "src")}


def plant(tmp_path: Path, module: str, text: str) -> None:
    """Append ``text`` to ``module`` in the copy (to a new ``_planted.py`` in a package)."""
    relative = tmp_path / "src" / Path(*module.split("."))
    target = relative / "_planted.py" if relative.is_dir() else relative.with_suffix(".py")
    with target.open("a", encoding="utf-8") as stream:
        stream.write(text)


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


@pytest.mark.parametrize("contract", contracts("forbidden"), ids=lambda contract: contract["id"])
def test_each_contract_fails_when_its_rule_is_broken(
    contract: dict[str, Any], tmp_path: Path
) -> None:
    """A copy of the sources with one forbidden import per forbidden module is refused."""
    env = copy_project(tmp_path)
    imports = "".join(
        f"\nimport {module}  # planted by the test\n" for module in contract["forbidden_modules"]
    )
    plant(tmp_path, contract["source_modules"][0], imports)
    report = lint_imports(tmp_path, "--contract", contract["id"], env=env)
    assert report.startswith("exit 1:"), report
    assert f"{contract['name']} BROKEN" in report, report
    for module in contract["forbidden_modules"]:
        assert f"is not allowed to import {module}" in report, (module, report)


@pytest.mark.parametrize("contract", contracts("layers"), ids=lambda contract: contract["id"])
def test_each_layer_order_fails_when_a_lower_layer_imports_a_higher_one(
    contract: dict[str, Any], tmp_path: Path
) -> None:
    """The bottom layer importing the one just above it breaks this contract alone (the
    forbidden contracts let it pass); so does a module the order does not place."""
    env = copy_project(tmp_path)
    (container,) = contract["containers"]
    # The first module of each layer ("a | b" lists a layer's modules), top to bottom.
    firsts = [f"{container}.{re.split('[|:]', layer)[0].strip()}" for layer in contract["layers"]]
    below, above = firsts[-1], firsts[-2]
    plant(tmp_path, below, f"\nimport {above}  # planted by the test\n")
    plant(tmp_path, f"{container}.newcomer", '"""Planted by the test: in no layer."""\n')
    report = lint_imports(tmp_path, env=env)
    assert report.startswith("exit 1:"), report
    broken = [other["name"] for other in contracts() if f"{other['name']} BROKEN" in report]
    assert broken == [contract["name"]], report
    assert f"{below} is not allowed to import {above}" in report, report
    assert f"not listed as layers: - {container}.newcomer" in report, report


def import_cycles(package: str) -> list[list[str]]:
    """Import cycles between the modules of ``package``, each as the modules in import order
    (the first again at the end). Imports under ``if TYPE_CHECKING:`` count: such a cycle
    still ties two modules together, and a reader must open both to follow either."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=False, cache_dir=None)
    imports = {
        module: sorted(graph.find_modules_directly_imported_by(module)) for module in graph.modules
    }
    cycles: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycles.append([*path[path.index(module) :], module])
            return
        if module in done:
            return
        for imported in imports[module]:
            visit(imported, [*path, module])
        done.add(module)

    for module in sorted(imports):
        visit(module, [])
    return cycles


def test_no_module_imports_itself_through_others() -> None:
    assert import_cycles(PACKAGE) == []


def test_the_cycle_search_finds_a_cycle_made_for_annotations(tmp_path: Path) -> None:
    """The circle registry/report.py and retrain.py once made is found (report imported
    retrain under TYPE_CHECKING for its annotations)."""
    env = copy_project(tmp_path)
    report, retrain = f"{PACKAGE}.registry.report", f"{PACKAGE}.registry.retrain"
    planted = f"\nfrom typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    import {retrain}\n"
    plant(tmp_path, report, planted)
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_architecture import import_cycles\n"
        f"print([sorted(set(cycle)) for cycle in import_cycles({PACKAGE!r})])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env
    )
    assert result.stdout.strip() == str([[report, retrain]]), result.stdout + result.stderr


def test_serving_and_batch_load_no_training_code_nor_dask_or_spark() -> None:
    for entry in (f"{PACKAGE}.serving.app", f"{PACKAGE}.batch.__main__"):
        code = (
            f"import sys, {entry}\n"
            f"bad = [m for m in sys.modules if m.startswith(('{PACKAGE}.training', "
            f"'{PACKAGE}.registry', '{PACKAGE}.monitoring', '{PACKAGE}.packaging'))"
            " or m.split('.')[0] in ('dvc', 'gto', 'dask', 'distributed', 'pyspark')]\n"
            "print(bad)\n"
            "sys.exit(1 if bad else 0)"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, (entry, result.stdout + result.stderr)
