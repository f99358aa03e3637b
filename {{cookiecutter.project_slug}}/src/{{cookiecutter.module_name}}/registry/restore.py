"""Export a registered version into the model store from git and DVC, with no retraining.

A version is a git tag on the commit whose ``dvc.lock`` records the md5 of the model,
its metadata and its ONNX copy. DVC keeps those files content-addressed in its cache
(and on the remote after ``make push``), so the exact bytes of any registered version
can be read back without checking anything out: the workspace is left as it is.
``make promote`` and ``make rollback`` call this when the store lacks the version they
are asked for (a fresh clone, a store wiped or moved to another machine).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.store import ModelStore
from {{ cookiecutter.module_name }}.registry import publish
from {{ cookiecutter.module_name }}.registry.lineage import (
    DVC_LOCK,
    RegistryError,
    data_hashes,
    git,
    md5_file,
    utc_now,
    whoami,
)
from {{ cookiecutter.module_name }}.registry.tags import TaggedVersion

Say = Callable[[str], None]
# How DVC 3 lays out its cache: files/md5/<first two hex digits>/<the rest>.
_CACHE_LAYOUT = ("files", "md5")


def versioned_metadata(
    metadata: dict[str, Any], version: str, lineage: dict[str, Any], root: Path
) -> dict[str, Any]:
    """The metadata a version carries in the store: training's, plus version and lineage."""
    return {
        **metadata,
        "version": version,
        "lineage": {
            **lineage,
            "trained_as": str(metadata["version"]),
            "registered_at": utc_now(),
            "registered_by": whoami(root),
        },
    }


def restore_version(settings: Settings, tagged: TaggedVersion, say: Say) -> Path:
    """Put ``tagged`` into the store from its commit's dvc.lock and DVC's cache or remote."""
    root, paths = settings.root, settings.paths
    tag = f"{settings.registry.artifact}@{tagged.version}"
    say(f"{tagged.version} is not in the model store: exporting it from {tag} and DVC.")
    outs = _locked_outputs(root, tagged.commit, tag)
    model_file = _relative(paths.model, root)
    metadata_file = _relative(paths.metadata, root)
    store = ModelStore(paths.registry)
    store.root.mkdir(parents=True, exist_ok=True)
    # Staged inside the store (git-ignored), never in the workspace.
    with tempfile.TemporaryDirectory(prefix=".restore.", dir=store.root) as folder:
        staging = Path(folder)
        model = _fetch(root, tagged.commit, model_file, outs, staging, tag)
        metadata_copy = _fetch(root, tagged.commit, metadata_file, outs, staging, tag)
        metadata = json.loads(metadata_copy.read_text(encoding="utf-8"))
        onnx = metadata.get("onnx") or {}
        if onnx.get("status") == "passed":
            _fetch(root, tagged.commit, _relative(paths.onnx_model, root), outs, staging, tag)
        lineage = {
            "git_commit": tagged.commit,
            "data": data_hashes(outs.stages),
            "model_md5": outs.md5[model_file],
            "restored_from": "dvc",
        }
        full = versioned_metadata(metadata, tagged.version, lineage, root)
        target = publish.export_version(store, tagged.version, model, full)
    say(f"Exported {tagged.version} into the model store ({target}).")
    return target


class _LockedOutputs:
    """The outputs a commit's dvc.lock records: path -> md5, and the stages themselves."""

    def __init__(self, stages: dict[str, Any]) -> None:
        self.stages = stages
        self.md5 = {
            str(out["path"]): str(out["md5"])
            for stage in stages.values()
            for out in stage.get("outs", []) or []
            if "path" in out and "md5" in out
        }


def _locked_outputs(root: Path, commit: str, tag: str) -> _LockedOutputs:
    try:
        text = git(root, "show", f"{commit}:{DVC_LOCK}")
        stages = dict((yaml.safe_load(text) or {}).get("stages", {}))
    except (RegistryError, yaml.YAMLError, AttributeError, TypeError) as error:
        raise RegistryError(f"cannot read {DVC_LOCK} at {tag}: {error}") from None
    return _LockedOutputs(stages)


def _relative(path: Path, root: Path) -> str:
    return path.resolve().relative_to(root.resolve()).as_posix()


def _fetch(
    root: Path, commit: str, file: str, outs: _LockedOutputs, staging: Path, tag: str
) -> Path:
    """The exact bytes dvc.lock records for ``file`` at ``commit``, checked by md5."""
    md5 = outs.md5.get(file)
    if md5 is None:
        raise RegistryError(f"{DVC_LOCK} at {tag} records no {file}: it cannot be exported")
    copy = staging / Path(file).name
    cached = _cache_dir(root).joinpath(*_CACHE_LAYOUT, md5[:2], md5[2:])
    if cached.is_file():
        copy.write_bytes(cached.read_bytes())
    else:
        _read_through_dvc(root, commit, file, copy, tag)
    if md5_file(copy) != md5:
        raise RegistryError(
            f"DVC's copy of {file} at {tag} does not match the md5 in {DVC_LOCK}: the cache is "
            "damaged; remove that file from .dvc/cache and run `make pull`"
        )
    return copy


def _cache_dir(root: Path) -> Path:
    """DVC's cache folder (``dvc cache dir``; .dvc/cache unless configured)."""
    try:
        result = subprocess.run(
            ["dvc", "cache", "dir"], cwd=root, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return root / ".dvc" / "cache"
    answer = result.stdout.strip()
    return Path(answer) if result.returncode == 0 and answer else root / ".dvc" / "cache"


def _read_through_dvc(root: Path, commit: str, file: str, copy: Path, tag: str) -> None:
    """Not in the local cache: let DVC read it at that commit (from the remote)."""
    try:
        import dvc.api  # slow to import; only this path needs it

        with (
            dvc.api.open(file, repo=str(root), rev=commit, mode="rb") as stream,
            open(copy, "wb") as out,
        ):
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                out.write(chunk)
    except Exception as error:  # DVC raises many types; all mean "not reachable"
        raise RegistryError(
            f"{file} of {tag} is neither in DVC's cache nor readable from the remote "
            f"({type(error).__name__}: {error}); fetch it with `make pull` on a machine "
            "that has it, or push it there with `make push`"
        ) from None
