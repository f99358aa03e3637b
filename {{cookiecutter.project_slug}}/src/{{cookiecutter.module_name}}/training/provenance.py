"""Where a trained artifact came from, recorded by the training run itself.

The registry adds the committed lineage when a version is registered (the commit must
exist first); this is what is known at training time: the checked-out commit and whether
the tree had uncommitted changes, and the md5 of the raw data (the hash DVC records for
it in dvc.lock), so even an unregistered candidate says which code and data made it.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.storage import md5_file


def _git(root: Path, *args: str) -> str | None:
    """stdout of a git command, or None outside a repository or without git."""
    try:
        result = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def training_source(settings: Settings) -> dict[str, Any]:
    """Commit, dirty flag and raw-data md5 of this training run."""
    root = settings.root
    commit = _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    status = _git(root, "status", "--porcelain", "--untracked-files=no") if commit else None
    raw = settings.paths.raw_data
    try:
        name = raw.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:  # raw data outside the project: name it as configured
        name = str(raw)
    return {
        "git_commit": commit,
        "git_dirty": None if status is None else bool(status),
        "data_md5": {name: md5_data(raw)},
    }


def md5_data(path: Path) -> str:
    """The md5 of the raw data: of the file, or for a folder of files, of each file's
    relative path and md5 in path order (so renaming, adding or changing a file shows)."""
    if not path.is_dir():
        return md5_file(path)
    digest = hashlib.md5(usedforsecurity=False)
    for file in sorted(found for found in path.rglob("*") if found.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}\t{md5_file(file)}\n".encode())
    return f"{digest.hexdigest()}.dir"
