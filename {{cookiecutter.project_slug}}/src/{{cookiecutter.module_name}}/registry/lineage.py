"""Where a model came from: the git commit, the data hashes in dvc.lock, who and when.

``dvc.lock`` pins the md5 of every stage's inputs (data, code, params) and outputs. A
version is registered only when the committed ``dvc.lock`` describes the very artifact
being registered, so ``git checkout <commit> && dvc checkout`` gives back its inputs.
"""

from __future__ import annotations

import getpass
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from {{ cookiecutter.module_name }}.storage import md5_file

# DVC's own file name, fixed by DVC (not a project path, so not in params.yaml).
DVC_LOCK = "dvc.lock"


class RegistryError(RuntimeError):
    """A registry command cannot go on; the message says why and what to do."""


def git(root: Path, *args: str) -> str:
    """Run one git command in ``root``; its stdout, stripped. Raises RegistryError on failure."""
    try:
        result = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise RegistryError(
            "git is not installed: the registry keeps versions in git tags"
        ) from None
    if result.returncode != 0:
        raise RegistryError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def head_commit(root: Path) -> str:
    """The commit checked out in ``root``; a clear error before the first commit."""
    try:
        return git(root, "rev-parse", "--verify", "HEAD^{commit}")
    except RegistryError:
        raise RegistryError(
            f"{root} has no git commit yet: commit the project first "
            "(git add -A && git commit -m 'Train the model')"
        ) from None


def whoami(root: Path) -> str:
    """The person acting: git's user.name (and email), else the login name."""
    try:
        name = git(root, "config", "user.name")
    except RegistryError:
        name = ""
    try:
        email = git(root, "config", "user.email")
    except RegistryError:
        email = ""
    return person(name, email) or getpass.getuser()


def person(name: object, email: object) -> str:
    """A person as the registry writes one: ``Name <email>``, ``Name``, or "" without a name."""
    if not name:
        return ""
    return f"{name} <{email}>" if email else str(name)


def utc_now() -> str:
    """The current time in UTC, ISO 8601 to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def read_lock(root: Path) -> dict[str, Any]:
    """The stages of the project's dvc.lock; a clear error if there is none."""
    path = root / DVC_LOCK
    if not path.is_file():
        raise RegistryError(f"no {DVC_LOCK} in {root}: train with `make train` (dvc repro) first")
    return parse_lock(path.read_text(encoding="utf-8"), str(path))


def lock_at(root: Path, commit: str) -> dict[str, Any]:
    """The stages of the dvc.lock committed in ``commit`` (no checkout needed)."""
    where = f"{DVC_LOCK} at {commit[:8]}"
    return parse_lock(git(root, "show", f"{commit}:{DVC_LOCK}"), where)


def parse_lock(text: str, where: str) -> dict[str, Any]:
    """The ``stages`` of a dvc.lock's text; RegistryError naming ``where`` if unreadable."""
    try:
        return dict((yaml.safe_load(text) or {}).get("stages", {}))
    except (yaml.YAMLError, AttributeError, TypeError, ValueError) as error:
        raise RegistryError(f"{where} is unreadable: {error}") from None


def _entries(stages: dict[str, Any], kind: str) -> dict[str, str]:
    """path -> md5 of every dep or out listed in dvc.lock."""
    found: dict[str, str] = {}
    for stage in stages.values():
        for entry in stage.get(kind, []) or []:
            if "path" in entry and "md5" in entry:
                found[str(entry["path"])] = str(entry["md5"])
    return found


def output_hashes(stages: dict[str, Any]) -> dict[str, str]:
    """path -> md5 of every stage output dvc.lock records (what DVC caches)."""
    return _entries(stages, "outs")


def data_hashes(stages: dict[str, Any]) -> dict[str, str]:
    """The pipeline's input data: deps that no stage produces and that are not code."""
    outs = _entries(stages, "outs")
    return {
        path: md5
        for path, md5 in sorted(_entries(stages, "deps").items())
        if path not in outs and not path.endswith(".py")
    }


def committed_lineage(root: Path, artifact: Path) -> dict[str, Any]:
    """Lineage of the trained artifact, checked against the committed dvc.lock.

    Refuses when dvc.lock does not describe ``artifact`` (trained since, or not by DVC)
    or when dvc.lock has changes that are not committed: the commit recorded for the
    version must be the one that reproduces it.
    """
    stages = read_lock(root)
    relative = artifact.resolve().relative_to(root.resolve()).as_posix()
    recorded = _entries(stages, "outs").get(relative)
    actual = md5_file(artifact)
    if recorded != actual:
        raise RegistryError(
            f"{DVC_LOCK} does not describe {relative} (md5 {actual[:8]}…, dvc.lock says "
            f"{(recorded or 'nothing')[:8]}…): rebuild it with `make train` (dvc repro)"
        )
    commit = head_commit(root)
    if git(root, "status", "--porcelain", "--", DVC_LOCK):
        raise RegistryError(
            f"{DVC_LOCK} has changes that are not committed, so no commit can reproduce this "
            "model yet: commit them (git add -A && git commit -m 'Train the model'), "
            "then run `make register` again"
        )
    return {"git_commit": commit, "data": data_hashes(stages), "model_md5": actual}
