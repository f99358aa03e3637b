"""What a retrain commits, and whether a registered version already holds its model.

Both are read from git, not from the model store, so they hold on a machine without the
store (a CI runner): a retrain commit holds the pipeline's records only (dvc.lock, and the
metrics and plot data git keeps), and a version is "the same" when its commit's dvc.lock
records the same inputs (data, code, params) for the stage that makes the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.registry import tags
from {{ cookiecutter.module_name }}.registry.lineage import (
    DVC_LOCK,
    RegistryError,
    git,
    lock_at,
    read_lock,
)


def lock_is_committed(root: Path) -> bool:
    """Whether ``dvc.lock`` has no uncommitted changes (registration needs that)."""
    return not changed_files(root, [DVC_LOCK])


def changed_files(root: Path, paths: list[str] | None = None) -> list[str]:
    """Files with uncommitted changes: tracked ones only when ``paths`` is None (a stray
    untracked file does not block a retrain), untracked ones too among ``paths``."""
    if paths is None:
        status = git(root, "status", "--porcelain", "--untracked-files=no")
    else:
        status = git(root, "status", "--porcelain", "--", *paths)
    return [line.split(maxsplit=1)[1] for line in status.splitlines()]


def pipeline_records(settings: Settings) -> list[str]:
    """What ``dvc repro`` changes that git keeps: dvc.lock, the metrics and the plot data
    (``cache: false`` in dvc.yaml). A retrain commit holds these and nothing else."""
    root = settings.root.resolve()
    kept = [settings.paths.metrics, settings.paths.predictions]
    inside = [path.resolve() for path in kept if path.resolve().is_relative_to(root)]
    return [DVC_LOCK, *(path.relative_to(root).as_posix() for path in inside)]


def require_clean_tree(settings: Settings) -> None:
    """Before a committing retrain: no change to a tracked file but the pipeline's records,
    so the commit made for the candidate holds the code and params that trained it (a new
    file not yet added to git is not seen: add it first)."""
    records = pipeline_records(settings)
    others = [path for path in changed_files(settings.root) if path not in records]
    if others:
        raise RegistryError(
            f"uncommitted changes to {', '.join(others)}: a retrain with COMMIT=1 commits "
            f"only {', '.join(records)}, so commit or stash them first"
        )


def commit_records(settings: Settings, message: str) -> bool:
    """Commit the pipeline's records that changed; False when none did."""
    files = changed_files(settings.root, pipeline_records(settings))
    if not files:
        return False
    git(settings.root, "add", "--", *files)
    git(settings.root, "commit", "--quiet", "-m", message, "--", *files)
    return True


def producer(stages: dict[str, Any], relative: str) -> dict[str, Any] | None:
    """The deps and params of the stage whose outputs include ``relative``, as a dvc.lock
    records them: what made the model (its bytes differ between runs: skops's zip records
    the time)."""
    for stage in stages.values():
        if any(out.get("path") == relative for out in stage.get("outs", []) or []):
            deps = sorted((dep.get("path"), dep.get("md5")) for dep in stage.get("deps", []) or [])
            return {"deps": deps, "params": stage.get("params", {})}
    return None


def registered_as(settings: Settings) -> str | None:
    """The version whose commit's dvc.lock has the same model-making stage inputs (data,
    code, params) as the one just run. Read from git, not the store, so a runner without
    the store does not register the same model again each week."""
    root = settings.root
    relative = settings.paths.model.resolve().relative_to(root.resolve()).as_posix()
    current = producer(read_lock(root), relative)
    if current is None:
        return None
    for tagged in tags.list_versions(root, settings.registry.artifact):
        try:
            stages = lock_at(root, tagged.commit)
        except RegistryError:
            continue  # a version whose commit has no readable dvc.lock cannot match
        if producer(stages, relative) == current:
            return tagged.version
    return None
