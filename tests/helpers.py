"""Baking and inspecting projects for the template's tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
TOOLS = Path(sys.executable).parent  # ruff and friends live beside the test interpreter
DEFAULT_SLUG = "penguin-classifier"
DEFAULT_MODULE = "penguin_classifier"
# The generated project's docs/ pages, one per job; its README links each of them.
DOCS_PAGES = (
    "batch",
    "data",
    "deployment",
    "experiments",
    "monitoring",
    "registry",
    "scaling",
    "serving",
    "updating",
)
# Answers that break naive templates: quotes, apostrophes, non-ASCII, braces, backslashes.
AWKWARD = {
    "project_name": 'Zoë\'s "Quoted" Ünïcode Project',
    "author_name": 'Åsa O\'Connor "the" Ñandú',
    "description": 'Says "hi", isn\'t shy: {not jinja} \\ done',
}


def bake(output_dir: Path, **answers: Any) -> Path:
    """Generate a project with default answers overridden by ``answers``; return its path."""
    project = cookiecutter(
        str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output_dir)
    )
    return Path(project)


def project_files(project: Path) -> list[str]:
    """Every file of a baked project, as sorted POSIX paths relative to it."""
    return sorted(
        path.relative_to(project).as_posix() for path in project.rglob("*") if path.is_file()
    )


# deploy/kubernetes/*.yaml when deploy is kubernetes
KUBERNETES_MANIFESTS = (
    "configmap",
    "cronjob-drift",
    "cronjob-retrain",
    "deployment",
    "hpa",
    "pdb",
    "service",
)


def expected_tree(
    module: str = DEFAULT_MODULE,
    license_file: bool = True,
    ci: bool = True,
    docker: bool = True,
    s3: bool = False,
    kubernetes: bool = False,
) -> list[str]:
    """The exact file list a bake must produce for the given answers."""
    files = [
        ".dvc/.gitignore",
        ".dvc/config",
        ".dvcignore",
        ".gitignore",
        ".pre-commit-config.yaml",
        "Makefile",
        "README.md",
        "data/raw/.gitignore",
        "data/raw/penguins.csv",
        "data/raw/penguins.csv.dvc",
        *[f"docs/{page}.md" for page in DOCS_PAGES],
        "dvc.yaml",
        "gunicorn.conf.py",
        "notebooks/01-tmpl-explore.ipynb",
        "notebooks/README.md",
        "params.yaml",
        "pyproject.toml",
        *[
            f"requirements/{name}.{ext}"
            for name in (
                "build",
                "dask",
                "dev",
                "notebook",
                "serve",
                "spark",
                "store-s3",
                "train",
                "uv",
            )
            for ext in ("in", "txt")
        ],
        *[
            f"src/{module}/{name}.py"
            for name in (
                "__init__",
                "config",
                "env_overrides",
                "onnx_model",
                "packaging/__init__",
                "packaging/__main__",
                "packaging/archive",
                "packaging/bundle",
                "packaging/manifest",
                "packaging/wheel",
                "packaging/wheelhouse",
                "schema",
                "scoring",
                "storage",
                "prediction/__init__",
                "prediction_log/__init__",
                "serving/__init__",
                "batch/__init__",
                "batch/__main__",
                "serving/__main__",
                "serving/api",
                "serving/app",
                "batch/chunks",
                "batch/paths",
                "batch/predictions",
                "batch/readers",
                "batch/run",
                "batch/tables",
                "batch/writers",
                "batch/dask_engine",
                "batch/inputs",
                "batch/spark_engine",
                "batch/workers",
                "serving/dashboard",
                "serving/drift_report",
                "prediction_log/appender",
                "prediction_log/client",
                "prediction_log/line_format",
                "prediction_log/protocol",
                "prediction_log/rotating_file",
                "prediction_log/writer",
                "prediction_log/writer_pipe",
                "serving/metadata",
                "serving/metrics",
                "prediction/loader",
                "prediction/model",
                "serving/openapi",
                "batch/pipelining",
                "serving/reload",
                "serving/requests",
                "serving/retrain",
                "serving/retrain_jobs",
                "prediction/engine",
                "prediction/layout",
                "prediction/mirror",
                "prediction/objects",
                "prediction/store",
                "prediction/vetting",
                "serving/traffic",
                "serving/validation",
                "monitoring/__init__",
                "monitoring/__main__",
                "monitoring/drift",
                "monitoring/findings",
                "monitoring/logs",
                "monitoring/notice",
                "monitoring/profile",
                "monitoring/reference",
                "monitoring/report",
                "monitoring/scores",
                "registry/__init__",
                "registry/__main__",
                "registry/champion",
                "registry/commands",
                "registry/failures",
                "registry/gate",
                "registry/jobs",
                "registry/lineage",
                "registry/listing",
                "registry/next_step",
                "registry/notice",
                "registry/outcome",
                "registry/publish",
                "registry/records",
                "registry/report",
                "registry/restore",
                "registry/retrain",
                "registry/tags",
                "notify/__init__",
                "notify/mail",
                "notify/report",
                "notify/send",
                "notify/webhook",
                "training/__init__",
                "training/__main__",
                "training/adopt",
                "training/data",
                "training/evaluate",
                "training/experiments",
                "training/export",
                "training/features",
                "training/inference",
                "training/provenance",
                "training/task",
                "training/train",
                "training/tune",
                "training/tune_steps",
            )
        ],
        *[
            f"tests/{name}.py"
            for name in (
                "conftest",
                "test_adopt",
                "test_api",
                "test_architecture",
                "test_batch",
                "test_batch_dask",
                "test_batch_spark",
                "test_batch_writers",
                "test_category_encoding",
                "test_config",
                "test_corner_cases",
                "test_dashboard",
                "test_dashboard_browser",
                "test_data",
                "test_experiments",
                "test_features",
                "test_fuzz",
                "test_gunicorn",
                "test_log_full_disk",
                "test_log_sink",
                "test_log_writer",
                "test_makefile",
                "test_metrics",
                "test_model_quality",
                "test_monitoring",
                "test_notify",
                "test_onnx",
                "test_openapi",
                "test_packaging",
                "test_pipelining",
                "test_prediction_log",
                "test_registry",
                "test_registry_failures",
                "test_regression",
                "test_retrain",
                "test_s3_store",
                "test_schema",
                "test_scheduled_retrain",
                "test_swaps",
                "test_trusted_types",
                "test_tune",
            )
        ],
        f"src/{module}/packaging/install.sh",
        f"src/{module}/packaging/run.sh",
    ]
    files.append(f"src/{module}/serving/dashboard.html")  # GET /dashboard (copied, not rendered)
    if license_file:
        files.append("LICENSE")
    if ci:
        files += [".github/workflows/ci.yml", ".github/workflows/retrain.yml"]
    if docker:
        files += ["Dockerfile", ".dockerignore"]
    if s3:
        files += ["requirements/s3.in", "requirements/s3.txt"]
    if kubernetes:
        files += [f"deploy/kubernetes/{name}.yaml" for name in KUBERNETES_MANIFESTS]
        files.append("tests/test_kubernetes.py")
    return sorted(files)


def parse_structured_files(project: Path) -> dict[str, Any]:
    """Parse every YAML, TOML and JSON file; a syntax error fails the caller."""
    parsed: dict[str, Any] = {}
    for path in sorted(project.rglob("*")):
        if path.suffix in {".yaml", ".yml"}:
            parsed[str(path)] = yaml.safe_load(path.read_text(encoding="utf-8"))
        elif path.suffix == ".toml":
            parsed[str(path)] = tomllib.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".json":
            parsed[str(path)] = json.loads(path.read_text(encoding="utf-8"))
    return parsed


def assert_lint_clean(project: Path) -> None:
    """ruff check and ruff format --check pass on a freshly baked project."""
    for command in (["ruff", "check", "."], ["ruff", "format", "--check", "."]):
        result = subprocess.run(
            [str(TOOLS / command[0]), *command[1:]],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def run(
    command: list[str], cwd: Path, timeout: float = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command in the project; fail the test with its output if it fails."""
    if env is None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("VIRTUAL_ENV")}
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    assert result.returncode == 0, (
        f"{command} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result


GIT_IDENTITY = ["-c", "user.name=Template Tests", "-c", "user.email=tests@example.com"]


def git_commit(folder: Path, message: str) -> None:
    run(["git", "add", "--all", "--force"], folder)
    run(["git", *GIT_IDENTITY, "commit", "--quiet", "--no-verify", "-m", message], folder)


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
