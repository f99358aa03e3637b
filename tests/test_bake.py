"""A default bake gives exactly the expected, fully rendered, reproducible project."""

from __future__ import annotations

import filecmp
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from dockerfile import context_files
from helpers import (
    DEFAULT_MODULE,
    TEMPLATE,
    assert_lint_clean,
    bake,
    expected_tree,
    parse_structured_files,
    project_files,
)

# Jinja left unrendered; GitHub Actions' own `${{ ... }}` expressions are expected.
UNRENDERED = re.compile(r"(?<!\$)\{\{|\{%|%\}|cookiecutter\.")


def test_default_bake_has_the_exact_tree(default_project: Path) -> None:
    assert default_project.name == "penguin-classifier"
    assert project_files(default_project) == expected_tree()


def test_no_template_syntax_is_left(default_project: Path) -> None:
    leftovers = []
    for relative in project_files(default_project):
        text = (default_project / relative).read_text(encoding="utf-8", errors="replace")
        leftovers += [f"{relative}: {match}" for match in UNRENDERED.findall(text)]
    assert leftovers == []


def test_structured_files_parse(default_project: Path) -> None:
    parsed = parse_structured_files(default_project)
    names = {Path(path).name for path in parsed}
    assert {"params.yaml", "dvc.yaml", "pyproject.toml"} <= names


def test_dvc_pipeline_has_the_four_stages_wired_to_params(default_project: Path) -> None:
    pipeline = yaml.safe_load((default_project / "dvc.yaml").read_text(encoding="utf-8"))
    assert list(pipeline["stages"]) == ["prepare", "split", "tune", "train", "evaluate"]
    for name, stage in pipeline["stages"].items():
        assert stage["cmd"] == f"PYTHONPATH=src python -m {DEFAULT_MODULE}.training {name}"
        assert stage["params"], name
        assert all(str(dep).startswith(("${paths.", "src/")) for dep in stage["deps"]), name
    evaluate = pipeline["stages"]["evaluate"]
    assert evaluate["metrics"] == [{"${paths.metrics}": {"cache": False}}]
    assert "${paths.predictions}" in evaluate["plots"][0]


def test_dvc_is_configured_offline(default_project: Path) -> None:
    config = (default_project / ".dvc/config").read_text(encoding="utf-8")
    assert "analytics = false" in config
    assert "check_update = false" in config


def test_data_and_models_are_ignored_by_git(default_project: Path) -> None:
    ignored = (default_project / ".gitignore").read_text(encoding="utf-8").split()
    assert {"/models/", "/data/interim/", "/data/processed/"} <= set(ignored)
    assert "/dvc_plots/" in ignored  # what `dvc plots show` writes
    assert (default_project / "data/raw/.gitignore").read_text(
        encoding="utf-8"
    ) == "/penguins.csv\n"


def test_the_docker_build_context_holds_only_the_models_the_server_reads(
    default_project: Path, tmp_path: Path
) -> None:
    """Retrain jobs copy the training data, the audit log names people, profiles describe
    the training data: none of it goes into an image, only what prediction/store.py reads."""
    shutil.copy(default_project / ".dockerignore", tmp_path)
    params = yaml.safe_load((default_project / "params.yaml").read_text(encoding="utf-8"))
    paths = params["paths"]
    jobs, store = paths["retrain_jobs"], paths["registry"]
    served = [
        paths["model"],
        paths["onnx_model"],
        paths["metadata"],
        f"{store}/prod.json",
        f"{store}/versions/v1.0.0/model.skops",
        f"{store}/versions/v1.0.0/model.onnx",
        f"{store}/versions/v1.0.0/metadata.json",
    ]
    kept_out = [
        f"{store}/audit.jsonl",
        f"{store}/registry.lock",
        f"{store}/versions/v1.0.0/reference_profile.json",
        f"{store}/versions/v1.0.0/extract.parquet",
        f"{store}/versions/v1.0.0/train.csv",
        f"{store}/.prod.json.3f9a1c2b7d4e",  # a write a crash left behind
        paths["reference_profile"],
        f"{jobs}/{'a' * 32}/status.json",
        f"{jobs}/{'a' * 32}/train.log",
        f"{jobs}/{'a' * 32}/model.skops",
        f"{jobs}/{'a' * 32}/train_data.csv",
        "models/train.csv",
        "models/notes.txt",
    ]
    for name in served + kept_out:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n", encoding="utf-8")
    context = context_files(tmp_path)
    assert sorted(name for name in context if name.startswith("models/")) == sorted(served)


def test_serve_requirements_exclude_training_tools(default_project: Path) -> None:
    serve = (default_project / "requirements/serve.txt").read_text(encoding="utf-8")
    pinned = {
        line.split("==")[0]
        for line in serve.splitlines()
        if "==" in line and not line.startswith(" ")
    }
    assert {"flask", "gunicorn", "scikit-learn", "skops"} <= pinned
    assert not pinned & {"dvc", "gto", "pytest", "ruff", "import-linter", "optuna", "dvclive"}
    for name in ("serve", "train", "dev"):
        text = (default_project / f"requirements/{name}.txt").read_text(encoding="utf-8")
        requirements = [line for line in text.splitlines() if line and line[0].isalpha()]
        assert requirements, name
        assert all("==" in line for line in requirements), name
        assert text.count("--hash=sha256:") >= len(requirements), name


def test_import_contracts_keep_training_and_the_registry_out_of_serving(
    default_project: Path,
) -> None:
    config = tomllib.loads((default_project / "pyproject.toml").read_text(encoding="utf-8"))
    forbidden: dict[str, set[str]] = {}
    for contract in config["tool"]["importlinter"]["contracts"]:
        if contract["type"] != "forbidden":  # the layers contracts order the same packages
            continue
        for source in contract["source_modules"]:
            forbidden.setdefault(source, set()).update(contract["forbidden_modules"])
    for package in ("prediction", "serving", "batch", "prediction_log"):
        assert {f"{DEFAULT_MODULE}.training", f"{DEFAULT_MODULE}.registry"} <= forbidden[
            f"{DEFAULT_MODULE}.{package}"
        ], package


def test_make_help_lists_the_registry_commands(default_project: Path) -> None:
    result = subprocess.run(
        ["make", "help"], cwd=default_project, capture_output=True, text=True, check=True
    )
    for target in ("register", "models", "promote", "rollback", "package"):
        assert f"{target} " in result.stdout, target
    assert "VERSION=" in result.stdout


def test_two_bakes_are_byte_identical(tmp_path: Path) -> None:
    first = bake(tmp_path / "one")
    second = bake(tmp_path / "two")
    files = project_files(first)
    assert files == project_files(second)
    _, mismatch, errors = filecmp.cmpfiles(first, second, files, shallow=False)
    assert mismatch == []
    assert errors == []


def test_no_path_of_this_machine_leaks(default_project: Path, tmp_path: Path) -> None:
    for relative in project_files(default_project):
        text = (default_project / relative).read_text(encoding="utf-8", errors="replace")
        assert str(default_project.parent) not in text, relative
        assert str(Path.home()) + "/" not in text, relative


@pytest.mark.parametrize("license_name", ["MIT", "BSD-3-Clause", "Apache-2.0", "Proprietary"])
def test_each_license_bakes(tmp_path: Path, license_name: str) -> None:
    project = bake(tmp_path, license=license_name)
    assert project_files(project) == expected_tree(license_file=license_name != "Proprietary")
    config = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert config["project"].get("license") == (
        None if license_name == "Proprietary" else license_name
    )


def test_baked_code_is_lint_clean(default_project: Path) -> None:
    assert_lint_clean(default_project)


def test_every_template_file_is_committed() -> None:
    """A file git ignores (e.g. data under a project .gitignore) would vanish from clones."""
    listed = subprocess.run(
        [
            "git",
            "ls-files",
            "--others",
            "--ignored",
            "--exclude-standard",
            "--",
            ":(literal){{cookiecutter.project_slug}}",
        ],
        cwd=TEMPLATE,
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0:
        pytest.skip("the template is not a git checkout")
    hidden = [line for line in listed.stdout.splitlines() if "__pycache__" not in line]
    assert hidden == [], "force-add these with `git add -f`"
