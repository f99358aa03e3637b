"""Prune the optional parts of the baked project that the answers did not ask for.

Deterministic by design: no git init, no network, no timestamps; the same answers always
give the same tree. Answers arrive through ``tojson`` inside raw literals (see the
pre-generation hook for why that is safe).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

ANSWERS = {
    "license": json.loads(r'''{{ cookiecutter.license | tojson }}'''),
    "ci": json.loads(r'''{{ cookiecutter.ci | tojson }}'''),
    "docker": json.loads(r'''{{ cookiecutter.docker | tojson }}'''),
    "dvc_remote": json.loads(r'''{{ cookiecutter.dvc_remote | tojson }}'''),
    "deploy": json.loads(r'''{{ cookiecutter.deploy | tojson }}'''),
}
# Only the S3 remote needs DVC's S3 plugin (and its lock).
S3_PLUGIN = ("requirements/s3.in", "requirements/s3.txt")

# answer name -> {answer value -> paths (relative to the project) to remove}
PRUNE: dict[str, dict[str, tuple[str, ...]]] = {
    "license": {"Proprietary": ("LICENSE",)},
    "ci": {"none": (".github",)},
    "docker": {"no": ("Dockerfile", ".dockerignore")},
    "dvc_remote": {"local": S3_PLUGIN, "none": S3_PLUGIN},
    "deploy": {"none": ("deploy", "tests/test_kubernetes.py")},
}


def paths_to_prune(answers: dict[str, str]) -> list[str]:
    """List the project paths that the given answers exclude, in a stable order."""
    paths: list[str] = []
    for name, value in answers.items():
        paths.extend(PRUNE.get(name, {}).get(value, ()))
    return sorted(paths)


def prune(project: Path, paths: list[str]) -> None:
    """Delete each listed file or folder; a missing one means the template changed."""
    for relative in paths:
        target = project / relative
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        else:
            raise FileNotFoundError(f"post-gen hook expected {relative} in the baked project")


if __name__ == "__main__":
    prune(Path.cwd(), paths_to_prune(ANSWERS))
