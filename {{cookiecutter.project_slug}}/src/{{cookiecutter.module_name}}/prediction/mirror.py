"""A machine's copy of a model store kept in an object store (``paths.registry: s3://...``).

The object store holds the layout of a local store (``layout.py``). Each machine keeps a
mirror of it in ``paths.registry_cache`` and reads only the mirror, with the code that
reads a local store: a version's sha256 is checked on the mirrored files, and a broken
version is refused exactly as on disk.

Reading (``pull``): a version's folder is copied under a temporary name and renamed into
place, then the pointer is written (atomically): the mirror's pointer never names a
version whose files are not all there. Versions never change once registered, so a
version already mirrored is not copied again.

Writing (the registry, ``push_*``): a version's files go up before its metadata.json (a
version exists once its metadata does), and before any pointer names it. The pointer is
replaced with a conditional put: ``If-Match`` the ETag of the pointer the command decided
from (``If-None-Match: *`` when there was none). S3 applies it atomically, so two
promotions from two machines cannot both win: the second is refused and changes nothing.
The audit log, which S3 cannot append to, is rewritten with the same condition (and
retried when another entry got in first).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from {{ cookiecutter.module_name }}.prediction.layout import (
    AUDIT_FILE,
    METADATA_FILE,
    POINTER_FILE,
    VERSION_PATTERN,
    VERSIONS_FOLDER,
)
from {{ cookiecutter.module_name }}.prediction.objects import (
    ObjectStore,
    PreconditionFailed,
)
from {{ cookiecutter.module_name }}.storage import atomic_write, new_path_beside

AUDIT_ATTEMPTS = 5
FILE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")


def pull(root: Path, objects: ObjectStore, every_version: bool = False) -> None:
    """Mirror the pointer, the audit log and the prod version (``every_version``: all)."""
    root.mkdir(parents=True, exist_ok=True)
    if every_version:
        for version in remote_versions(objects):
            pull_version(root, objects, version)
    audit = objects.read(AUDIT_FILE)
    if audit is not None:
        _write(root / AUDIT_FILE, audit.data)
    pointer = objects.read(POINTER_FILE)
    if pointer is None:
        (root / POINTER_FILE).unlink(missing_ok=True)
        return
    version = str(json.loads(pointer.data)["version"])
    if not VERSION_PATTERN.match(version):
        raise ValueError(f"the prod pointer names {version!r}, which is not a version")
    pull_version(root, objects, version)
    _write(root / POINTER_FILE, pointer.data)


def remote_versions(objects: ObjectStore) -> list[str]:
    """The versions whose metadata is in the object store (all their files are there)."""
    names = []
    for key in objects.keys(f"{VERSIONS_FOLDER}/"):
        parts = key.split("/")
        if len(parts) == 3 and parts[2] == METADATA_FILE and VERSION_PATTERN.match(parts[1]):
            names.append(parts[1])
    return names


def pull_version(root: Path, objects: ObjectStore, version: str) -> None:
    """Copy one version's folder into the mirror, whole or not at all."""
    target = root / VERSIONS_FOLDER / version
    if (target / METADATA_FILE).is_file():
        return
    prefix = f"{VERSIONS_FOLDER}/{version}/"
    # Plain file names only: a key never names a path outside the version's folder.
    keys = [key for key in objects.keys(prefix) if FILE_NAME.match(key[len(prefix) :])]
    if f"{prefix}{METADATA_FILE}" not in keys:
        return  # not (yet) in the store: the loader says the version is missing
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = new_path_beside(target, folder=True)
    try:
        for key in keys:
            blob = objects.read(key)
            if blob is not None:
                (staging / key[len(prefix) :]).write_bytes(blob.data)
        with contextlib.suppress(OSError):  # another worker mirrored it first: theirs stays
            os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def push_version(root: Path, objects: ObjectStore, version: str) -> None:
    """Upload a mirrored version's files, its metadata last; nothing if it is there."""
    prefix = f"{VERSIONS_FOLDER}/{version}/"
    if objects.tag(f"{prefix}{METADATA_FILE}") is not None:
        return
    folder = root / VERSIONS_FOLDER / version
    files = sorted(path for path in folder.iterdir() if path.is_file())
    for path in sorted(files, key=lambda path: path.name == METADATA_FILE):
        objects.put(f"{prefix}{path.name}", path.read_bytes())


def push_pointer(objects: ObjectStore, pointer: dict[str, Any], decided_from: Any) -> None:
    """Replace the remote pointer with ``pointer`` if it still is ``decided_from`` (the
    pointer's content the command read; None: there was none); PreconditionFailed if not."""
    current = objects.read(POINTER_FILE)
    if (json.loads(current.data) if current else None) != decided_from:
        raise PreconditionFailed("the prod pointer moved since this command read it")
    data = (json.dumps(pointer, indent=2, sort_keys=True) + "\n").encode()
    objects.write(POINTER_FILE, data, current.tag if current else None)


def push_audit(objects: ObjectStore, line: str) -> None:
    """Append one line to the remote audit log (a conditional rewrite, retried)."""
    for _ in range(AUDIT_ATTEMPTS):
        current = objects.read(AUDIT_FILE)
        data = (current.data if current else b"") + line.encode()
        try:
            objects.write(AUDIT_FILE, data, current.tag if current else None)
            return
        except PreconditionFailed:
            continue
    raise PreconditionFailed(f"the audit log kept changing: {AUDIT_ATTEMPTS} attempts lost")


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` atomically unless the file already holds exactly it."""
    if path.is_file() and path.read_bytes() == data:
        return
    atomic_write(path, lambda temporary: temporary.write_bytes(data))
