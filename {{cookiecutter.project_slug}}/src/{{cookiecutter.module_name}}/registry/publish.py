"""Writes to the model store: version folders, the prod pointer, the audit log.

Each write is all-or-nothing. A version folder is filled under a temporary name and
renamed into place; the pointer is replaced with ``os.replace``; an audit entry is one
appended line, flushed to disk. A crash between two writes leaves the pointer on a
version that was complete and verified before it moved.

A promotion or rollback writes its audit line *before* it moves the pointer, so prod never
moves unrecorded. A crash in between leaves a line whose move did not happen: an
unfinished change, which ``make models`` reports and the next registry command settles
by appending an ``abandoned`` line (``settle_unfinished``).

A store in an object store (``paths.registry: s3://...``) is written through this
machine's mirror: each command first brings the mirror up to date, works on it as on a
local store, and sends each write up as it makes it (``prediction/mirror.py``): a version's
files, the audit entry, then the pointer with a conditional put that fails if another
machine moved prod since the command read it.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from {{ cookiecutter.module_name }}.prediction import mirror
from {{ cookiecutter.module_name }}.prediction.loader import ModelLoadError
from {{ cookiecutter.module_name }}.prediction.objects import (
    ObjectStoreError,
    PreconditionFailed,
)
from {{ cookiecutter.module_name }}.prediction.store import (
    ABANDONED,
    METADATA_FILE,
    ModelStore,
    Pointer,
    effective_moves,
)
from {{ cookiecutter.module_name }}.prediction.vetting import (
    file_hashes,
    seal,
    store_key,
)
from {{ cookiecutter.module_name }}.registry.lineage import RegistryError
from {{ cookiecutter.module_name }}.storage import (
    new_path_beside,
    read_json,
    sha256_file,
    write_json,
)

log = logging.getLogger(__name__)

LOCK_FILE = "registry.lock"


def _remote_failure(store: ModelStore, error: Exception) -> RegistryError:
    return RegistryError(f"the model store {store.remote} refused a write: {error}")


@contextmanager
def exclusive(store: ModelStore) -> Iterator[None]:
    """Hold the store's lock: one registration, promotion or rollback at a time (on this
    machine; across machines the conditional pointer write keeps them apart). A store in
    an object store is mirrored first, every version."""
    store.root.mkdir(parents=True, exist_ok=True)
    with open(store.root / LOCK_FILE, "a", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RegistryError(
                f"another registration, promotion or rollback is running on {store.root}; "
                "run this again when it has finished"
            ) from None
        try:
            try:
                store.sync(every_version=True)
            except ModelLoadError as error:
                raise RegistryError(str(error)) from None
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def export_version(
    store: ModelStore,
    version: str,
    artifact: Path,
    metadata: dict[str, Any],
    reference_profile: Path | None = None,
) -> Path:
    """Copy the artifact and its metadata into the store as ``version``; verify the copy.

    The reference profile (training data for drift monitoring) travels too when the
    metadata certifies one; ``reference_profile`` says where it is (default: beside the
    artifact).
    """
    target = store.version_dir(version)
    expected = metadata["artifact"]["sha256"]
    if target.exists():
        held = read_json(target / METADATA_FILE)["artifact"]["sha256"]
        if held != expected:
            raise RegistryError(
                f"the store already holds a different {version} ({target}); "
                "it was not registered in git: remove that folder, then register again"
            )
        _push_version(store, version)
        return target
    store.versions_root.mkdir(parents=True, exist_ok=True)
    staging = new_path_beside(target, folder=True)  # a version folder gets the user's umask
    try:
        copy = staging / Path(str(metadata["artifact"]["file"])).name
        shutil.copyfile(artifact, copy)
        if sha256_file(copy) != expected:
            raise RegistryError(f"copying {artifact} into the store changed it; try again")
        _copy_onnx(artifact, metadata, staging)
        _copy_profile(artifact, reference_profile, metadata, staging)
        write_json(staging / METADATA_FILE, metadata)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    _push_version(store, version)
    return target


def _push_version(store: ModelStore, version: str) -> None:
    """Upload a version to the remote store, if there is one and it lacks the version."""
    objects = store.objects
    if objects is not None:
        try:
            mirror.push_version(store.root, objects, version)
        except ObjectStoreError as error:
            raise _remote_failure(store, error) from None


def _copy_onnx(artifact: Path, metadata: dict[str, Any], staging: Path) -> None:
    """The certified ONNX copy travels with its version (serving refuses a missing one)."""
    onnx = metadata.get("onnx") or {}
    if onnx.get("status") == "passed":
        _copy_certified(artifact.parent / str(onnx["file"]), onnx, staging, "an ONNX copy")


def _copy_profile(
    artifact: Path, source: Path | None, metadata: dict[str, Any], staging: Path
) -> None:
    """Copy the certified reference profile; models trained before profiles had none."""
    entry = metadata.get("reference_profile") or {}
    if entry.get("file"):
        source = source or artifact.parent / str(entry["file"])
        _copy_certified(source, entry, staging, "a reference profile")


def _copy_certified(source: Path, entry: dict[str, Any], staging: Path, what: str) -> None:
    """Copy a file the metadata certifies (``file``, ``sha256``) and check the copy."""
    if not source.is_file():
        raise RegistryError(
            f"the metadata certifies {what} at {source} but it is missing: "
            "restore it (make pull, or make train), then register again"
        )
    copy = staging / Path(str(entry["file"])).name
    shutil.copyfile(source, copy)
    if sha256_file(copy) != entry.get("sha256"):
        raise RegistryError(f"{source} does not match the sha256 its metadata certifies")


def write_pointer(store: ModelStore, pointer: Pointer) -> None:
    """Move prod to ``pointer.version`` in one atomic replace, sealed with the store key
    when it is set (``prediction/vetting.py``).

    In an object store: a conditional put (``If-Match`` the ETag of the pointer this
    command decided from), refused if another machine moved prod meanwhile.
    """
    key = store_key()
    if key is not None:
        pointer = dataclasses.replace(pointer, signature=seal(pointer.content(), key))
    objects = store.objects
    if objects is not None:
        decided_from = read_json(store.pointer_path) if store.pointer_path.is_file() else None
        try:
            mirror.push_pointer(objects, pointer.to_json(), decided_from)
        except PreconditionFailed:
            raise RegistryError(
                f"prod was moved in {store.remote} by someone else while this command ran: "
                "nothing was changed; run `make models` and decide again"
            ) from None
        except ObjectStoreError as error:
            raise _remote_failure(store, error) from None
    write_json(store.pointer_path, pointer.to_json())


def vetted_hashes(
    store: ModelStore, pointer: Pointer, target: dict[str, Any]
) -> dict[str, dict[str, str]]:
    """The file hashes the new pointer vouches for: the target's, just checked against
    git; the earlier versions' as the old pointer recorded them (for a pointer written
    before it recorded any, as their stored metadata names them)."""
    previous = store.read_pointer()
    vetted = {}
    for version in pointer.history:
        if previous is not None and version in previous.vetted:
            vetted[version] = previous.vetted[version]
        elif store.metadata_path(version).is_file():
            vetted[version] = file_hashes(read_json(store.metadata_path(version)))
    vetted[pointer.version] = file_hashes(target)
    return vetted


def append_audit(store: ModelStore, entry: dict[str, Any]) -> None:
    """Append one event to the audit log (never rewritten, only appended to)."""
    line = json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n"
    objects = store.objects
    if objects is not None:
        try:
            mirror.push_audit(objects, line)
        except ObjectStoreError as error:
            raise _remote_failure(store, error) from None
    store.root.mkdir(parents=True, exist_ok=True)
    with open(store.audit_path, "a", encoding="utf-8") as stream:
        stream.write(line)
        stream.flush()
        os.fsync(stream.fileno())


def read_audit(store: ModelStore) -> list[dict[str, Any]]:
    """Every audit event, oldest first; a line cut short by a crash is skipped, with a warning."""
    if not store.audit_path.is_file():
        return []
    events = []
    for number, line in enumerate(store.audit_path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            events.append(json.loads(line))
        except ValueError:
            log.warning("%s line %d is not valid JSON; skipped", store.audit_path, number)
    return events


def unfinished_change(store: ModelStore) -> dict[str, Any] | None:
    """The newest move in the audit log if prod did not follow it: the pointer is still
    where that move started (a crash after its audit line, before the pointer moved)."""
    moves = effective_moves(read_audit(store))
    if not moves:
        return None
    try:
        pointer = store.read_pointer()
    except ModelLoadError:  # promote and models say what is wrong with it
        return None
    current = pointer.version if pointer else None
    last = moves[-1]
    if last.get("to") != current and last.get("from") == current:
        return last
    return None


def settle_unfinished(store: ModelStore, at: str, by: str) -> dict[str, Any] | None:
    """Record an unfinished change as abandoned (prod stayed where it was); the entry
    written, or None when there was nothing to settle. Call it holding the store's lock."""
    change = unfinished_change(store)
    if change is None:
        return None
    stayed = change.get("from")
    entry = {
        "event": ABANDONED,
        "at": at,
        "by": by,
        "from": stayed,
        "to": stayed,
        "reason": (
            f"the {change.get('event')} to {change.get('to')} of {change.get('at')} was "
            f"interrupted before prod moved; prod stayed on {stayed or 'none'}"
        ),
        "forced": False,
    }
    append_audit(store, entry)
    log.warning("settled an interrupted change: %s", entry["reason"])
    return entry
