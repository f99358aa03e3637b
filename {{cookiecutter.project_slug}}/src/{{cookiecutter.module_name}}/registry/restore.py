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
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.store import ModelStore
from {{ cookiecutter.module_name }}.registry import publish
from {{ cookiecutter.module_name }}.registry.lineage import (
    DVC_LOCK,
    RegistryError,
    data_hashes,
    lock_at,
    md5_file,
    output_hashes,
    utc_now,
    whoami,
)
from {{ cookiecutter.module_name }}.registry.tags import TaggedVersion

Say = Callable[[str], None]
# How DVC 3 lays out its cache: files/md5/<first two hex digits>/<the rest>.
_CACHE_LAYOUT = ("files", "md5")


def versioned_metadata(
    metadata: dict[str, Any],
    version: str,
    lineage: dict[str, Any],
    root: Path,
    tagged: TaggedVersion | None = None,
) -> dict[str, Any]:
    """The metadata a version carries in the store: training's, plus version and lineage.

    ``tagged`` is the git tag of a version registered earlier: its time and author stay
    the registration's, whenever the copy is exported.
    """
    return {
        **metadata,
        "version": version,
        "lineage": {
            **lineage,
            "trained_as": str(metadata["version"]),
            "registered_at": tagged.created_at if tagged else utc_now(),
            "registered_by": (tagged.author if tagged else "") or whoami(root),
        },
    }


@dataclass(frozen=True)
class VersionFiles:
    """A registered version's files, copied out of DVC and checked against its dvc.lock."""

    model: Path
    metadata_file: Path
    metadata: dict[str, Any]
    lineage: dict[str, Any]


def read_version(settings: Settings, tagged: TaggedVersion, staging: Path) -> VersionFiles:
    """Copy ``tagged``'s model, metadata and certified ONNX copy into ``staging``.

    From DVC's cache, else pulled from the default DVC remote; every file is checked
    against the md5 its commit's dvc.lock records. The workspace is not touched.
    """
    root, paths = settings.root, settings.paths
    tag = f"{settings.registry.artifact}@{tagged.version}"
    outs = _locked_outputs(root, tagged.commit, tag)
    model_file, metadata_file, onnx_file, profile_file = (
        _relative(path, root)
        for path in (paths.model, paths.metadata, paths.onnx_model, paths.reference_profile)
    )
    cache = _Cache(root, outs, tag, [model_file, metadata_file, onnx_file, profile_file])
    model = cache.copy(model_file, staging)
    metadata_copy = cache.copy(metadata_file, staging)
    metadata = json.loads(metadata_copy.read_text(encoding="utf-8"))
    if (metadata.get("onnx") or {}).get("status") == "passed":
        cache.copy(onnx_file, staging)
    if metadata.get("reference_profile"):  # drift monitoring's reference travels too
        cache.copy(profile_file, staging)
    lineage = {
        "git_commit": tagged.commit,
        "data": data_hashes(outs.stages),
        "model_md5": outs.md5[model_file],
    }
    return VersionFiles(model, metadata_copy, metadata, lineage)


def restore_version(settings: Settings, tagged: TaggedVersion, say: Say) -> Path:
    """Put ``tagged`` into the store from its commit's dvc.lock and DVC's cache or remote."""
    tag = f"{settings.registry.artifact}@{tagged.version}"
    say(f"{tagged.version} is not in the model store: exporting it from {tag} and DVC.")
    store = ModelStore.from_settings(settings)
    store.root.mkdir(parents=True, exist_ok=True)
    # Staged inside the store (git-ignored), never in the workspace.
    with tempfile.TemporaryDirectory(prefix=".restore.", dir=store.root) as folder:
        files = read_version(settings, tagged, Path(folder))
        lineage = {**files.lineage, "restored_from": "dvc", "exported_at": utc_now()}
        metadata = versioned_metadata(
            files.metadata, tagged.version, lineage, settings.root, tagged
        )
        target = publish.export_version(store, tagged.version, files.model, metadata)
    say(f"Exported {tagged.version} into the model store ({target}).")
    return target


def verify_stored(settings: Settings, tagged: TaggedVersion) -> None:
    """Refuse a stored version whose files are not those its git tag's dvc.lock records.

    Run before anything opens them (the gate, a rollback, a retrain's comparison): whoever
    can write the store can plant a version with metadata whose sha256 matches its files,
    but not a commit of this repository whose dvc.lock records their md5. Checks the
    artifact, and the ONNX copy when the metadata certifies one (the loader opens it).
    """
    root, paths, version = settings.root, settings.paths, tagged.version
    tag = f"{settings.registry.artifact}@{version}"
    store = ModelStore.from_settings(settings)
    try:
        metadata = json.loads(store.metadata_path(version).read_text(encoding="utf-8"))
        checked = [(store.artifact_path(version, metadata), _relative(paths.model, root))]
        onnx = metadata.get("onnx") or {}
        if onnx.get("status") == "passed":
            copy = store.version_dir(version) / str(onnx["file"])
            checked.append((copy, _relative(paths.onnx_model, root)))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise RegistryError(f"the store's metadata of {version} is unreadable: {error}") from None
    recorded = _locked_outputs(root, tagged.commit, tag).md5
    for path, name in checked:
        expected = recorded.get(name) or "nothing"
        actual = md5_file(path) if path.is_file() else "no file"
        if actual != expected:
            raise RegistryError(
                f"the store's {path.name} of {version} is not the file {tag} registered "
                f"(md5 {actual[:8]}…, {DVC_LOCK} at the tag records {expected[:8]}…): it was "
                f"replaced or damaged; delete {store.version_dir(version)} and run the "
                "command again to export the registered files from git and DVC"
            )


class _LockedOutputs:
    """The outputs a commit's dvc.lock records: path -> md5, and the stages themselves."""

    def __init__(self, stages: dict[str, Any]) -> None:
        self.stages = stages
        self.md5 = output_hashes(stages)


def _locked_outputs(root: Path, commit: str, tag: str) -> _LockedOutputs:
    try:
        return _LockedOutputs(lock_at(root, commit))
    except RegistryError as error:
        raise RegistryError(f"cannot read {DVC_LOCK} at {tag}: {error}") from None


def _relative(path: Path, root: Path) -> str:
    return path.resolve().relative_to(root.resolve()).as_posix()


class _Cache:
    """DVC's content-addressed cache; what it lacks is fetched from the remote once."""

    def __init__(self, root: Path, outs: _LockedOutputs, tag: str, files: list[str]) -> None:
        self.root, self.outs, self.tag, self.files = root, outs, tag, files
        self.folder = _cache_dir(root)
        self.fetched = False
        self.fetch_problem = ""

    def path(self, md5: str) -> Path:
        return self.folder.joinpath(*_CACHE_LAYOUT, md5[:2], md5[2:])

    def copy(self, file: str, staging: Path) -> Path:
        """The exact bytes dvc.lock records for ``file`` at the tag, checked by md5."""
        md5 = self.outs.md5.get(file)
        if md5 is None:
            raise RegistryError(
                f"{DVC_LOCK} at {self.tag} records no {file}: it cannot be exported"
            )
        if not self.path(md5).is_file() and not self.fetched:
            self._fetch(file)
        cached = self.path(md5)
        if not cached.is_file():
            raise RegistryError(
                f"{file} of {self.tag} is neither in DVC's cache nor on the remote"
                f"{self.fetch_problem}: run `make push` on a machine that has it, then "
                "`make pull` here"
            )
        copy = staging / Path(file).name
        shutil.copyfile(cached, copy)
        if md5_file(copy) != md5:
            raise RegistryError(
                f"DVC's copy of {file} at {self.tag} does not match the md5 in {DVC_LOCK}: the "
                f"cache is damaged; delete {cached} and run `make pull`"
            )
        return copy

    def _fetch(self, file: str) -> None:
        """Pull the version's missing files from the default DVC remote, by md5.

        By hash, through the workspace's DVC config: ``dvc fetch --all-tags`` would read
        each tag's own config, where a relative remote path resolves wrongly (DVC 3).
        """
        self.fetched = True
        missing = {
            md5
            for name in self.files
            if (md5 := self.outs.md5.get(name)) and not self.path(md5).is_file()
        }
        try:
            from dvc.repo import Repo  # slow to import; only this path needs it
            from dvc_data.hashfile.hash_info import HashInfo

            with Repo(str(self.root)) as repo:
                result = repo.cloud.pull({HashInfo("md5", md5) for md5 in missing})
            if result.failed:
                self.fetch_problem = f" ({len(result.failed)} file(s) missing on the remote)"
        except Exception as error:  # DVC raises many types; all mean "not fetched"
            self.fetch_problem = f" ({type(error).__name__}: {error})"


def _dvc() -> str:
    """DVC's command: beside this interpreter (the project's .venv) or on PATH."""
    beside = Path(sys.executable).parent / "dvc"
    return str(beside) if beside.is_file() else "dvc"


def _cache_dir(root: Path) -> Path:
    """DVC's cache folder (``dvc cache dir``; .dvc/cache unless configured)."""
    try:
        result = subprocess.run(
            [_dvc(), "cache", "dir"], cwd=root, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return root / ".dvc" / "cache"
    answer = result.stdout.strip()
    return Path(answer) if result.returncode == 0 and answer else root / ".dvc" / "cache"
