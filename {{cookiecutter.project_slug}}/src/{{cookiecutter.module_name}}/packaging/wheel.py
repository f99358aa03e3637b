"""Build the serving wheel: prediction, serving, batch, the prediction log, monitoring (with
notify, to check drift and send the report where the server runs) and the shared
modules, nothing else.

The project's own pyproject.toml packages every subpackage (training and registry too,
for ``make setup``'s editable install). The serving wheel is built from a staged copy
holding what the Dockerfile copies into the serving image plus monitoring, with a generated
pyproject.toml: the project's metadata, the bundle's version and only the prediction
console script. ``uv build`` runs setuptools in an isolated build environment, at the
version and hash pinned in ``requirements/build.txt``; SOURCE_DATE_EPOCH fixes the
timestamps inside the wheel, so the same sources give the same bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

PACKAGE = "{{ cookiecutter.module_name }}"
BUILD_LOCK = "requirements/build.txt"  # the build backend, pinned with hashes (make lock)
# What serving imports: the same allow-list as the Dockerfile and .dockerignore. A test
# checks it against the import-linter contract that lists the shared modules.
SHARED_MODULES = (
    "__init__",
    "config",
    "env_overrides",
    "onnx_model",
    "schema",
    "scoring",
    "storage",
)
# monitoring and notify: so the server's own log can be checked for drift where it runs.
SERVING_PACKAGES = ("prediction", "prediction_log", "serving", "batch", "monitoring", "notify")
# The fields of [project] the wheel keeps (readme and the train script are left out).
PROJECT_FIELDS = ("name", "description", "requires-python", "authors", "license")


class WheelBuildError(RuntimeError):
    """The sources are incomplete or the build backend failed."""


def serving_package_data(pyproject: dict[str, Any]) -> dict[str, list[str]]:
    """The project's ``[tool.setuptools.package-data]`` entries of the serving packages
    (the dashboard page): files the code reads from its package at run time."""
    data = pyproject.get("tool", {}).get("setuptools", {}).get("package-data", {})
    kept = {f"{PACKAGE}.{sub}" for sub in SERVING_PACKAGES}
    return {name: list(patterns) for name, patterns in data.items() if name in kept}


def serving_sources(source_root: Path, package_data: dict[str, list[str]]) -> list[Path]:
    """The files of the serving wheel, relative to ``src/``, sorted: the modules, and the
    package data named in ``package_data`` (``serving_package_data``)."""
    package = source_root / PACKAGE
    required = [package / f"{name}.py" for name in SHARED_MODULES]
    required += [package / sub / "__init__.py" for sub in SERVING_PACKAGES]
    missing = [str(path) for path in required if not path.is_file()]
    if missing:
        raise WheelBuildError(f"the serving wheel needs these missing sources: {missing}")
    files = set(required)
    for subpackage in SERVING_PACKAGES:
        files.update((package / subpackage).glob("*.py"))
    for name, patterns in package_data.items():
        folder = source_root.joinpath(*name.split("."))
        for pattern in patterns:
            found = sorted(folder.glob(pattern))
            if not found:
                raise WheelBuildError(f"package data {name}: {pattern} matches no file")
            files.update(found)
    return sorted(path.relative_to(source_root) for path in files)


def _toml_value(value: Any) -> str:
    """TOML for the few value types of [project]; JSON strings are valid TOML strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{json.dumps(key)} = {_toml_value(item)}" for key, item in value.items())
        return "{ " + ", ".join(pairs) + " }"
    raise WheelBuildError(f"pyproject.toml value {value!r} cannot be copied into the wheel")


def staged_pyproject(pyproject: dict[str, Any], version: str) -> str:
    """The serving wheel's pyproject.toml, derived from the project's."""
    project = {
        key: pyproject["project"][key] for key in PROJECT_FIELDS if key in pyproject["project"]
    }
    scripts = {
        name: target
        for name, target in pyproject["project"].get("scripts", {}).items()
        if any(target.startswith(f"{PACKAGE}.{sub}.") for sub in SERVING_PACKAGES)
    }
    project.update(version=version, dependencies=[], scripts=scripts)
    packages = [PACKAGE, *(f"{PACKAGE}.{sub}" for sub in SERVING_PACKAGES)]
    lines = ["[build-system]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in pyproject["build-system"].items()]
    lines += ["", "[project]"]
    lines += [f"{json.dumps(key)} = {_toml_value(value)}" for key, value in project.items()]
    lines += ["", "[tool.setuptools]", f"packages = {_toml_value(packages)}"]
    lines += ['package-dir = { "" = "src" }', ""]
    package_data = serving_package_data(pyproject)
    if package_data:
        lines += ["[tool.setuptools.package-data]"]
        lines += [
            f"{json.dumps(name)} = {_toml_value(value)}" for name, value in package_data.items()
        ]
        lines += [""]
    return "\n".join(lines)


def build_wheel(project_root: Path, version: str, out_dir: Path, epoch: int) -> Path:
    """Build the serving wheel of ``project_root`` as ``version`` into ``out_dir``."""
    pyproject = tomllib.loads((project_root / "pyproject.toml").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="serving-wheel-") as temporary:
        staging = Path(temporary) / "source"
        for relative in serving_sources(project_root / "src", serving_package_data(pyproject)):
            _copy(project_root / "src" / relative, staging / "src" / relative)
        license_file = project_root / "LICENSE"
        if license_file.is_file():
            _copy(license_file, staging / "LICENSE")
        (staging / "pyproject.toml").write_text(
            staged_pyproject(pyproject, version), encoding="utf-8"
        )
        built = Path(temporary) / "wheel"
        command = [sys.executable, "-m", "uv", "build", "--wheel", "--quiet"]
        # The backend too is pinned and hash-checked: the same bytes on every machine.
        command += ["--build-constraints", str(project_root / BUILD_LOCK), "--require-hashes"]
        command += ["--out-dir", str(built), str(staging)]
        environment = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch)}
        result = subprocess.run(
            command, capture_output=True, text=True, env=environment, check=False
        )
        wheels = sorted(built.glob("*.whl"))
        if result.returncode or len(wheels) != 1:
            raise WheelBuildError(
                f"building the serving wheel failed (uv build, needs the setuptools pinned "
                f"in {BUILD_LOCK} from the package index or uv's cache):\n"
                f"{result.stderr[-3000:]}"
            )
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / wheels[0].name
        shutil.copyfile(wheels[0], target)
        return target


def _copy(source: Path, target: Path) -> None:
    """Copy with fixed permissions: the wheel records them, so they must not vary."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    os.chmod(target, 0o644)
