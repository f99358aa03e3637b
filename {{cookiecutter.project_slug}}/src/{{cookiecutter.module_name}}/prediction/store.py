"""The model store the server reads: one folder per version and a ``prod`` pointer.

Layout under ``paths.registry`` (written only by the registry, read here; ``layout.py``)::

    prod.json                  {"version": "v2.0.0", "history": ["v1.0.0"],
                                "vetted": {version: file hashes}, "signature": (optional)}
    versions/v2.0.0/           the artifact and its metadata.json, exactly as registered
    audit.jsonl                one JSON line per promotion or rollback

``paths.registry`` may also be an object store's URL (``s3://bucket/prefix``), shared by
replicas on several machines: each machine then reads its own mirror of it
(``mirror.py``), with this same code.

The pointer is replaced atomically, so a reader sees the old version or the new one,
never a mix. Serving needs nothing but this folder: no git, no DVC. Before any
promotion there is no pointer; then, if ``serving.serve_unpromoted`` allows it, the
last trained model (``paths.model``) is served and marked as unpromoted. Once the audit
log records a promotion, a missing pointer is an error (the file was lost, or the store
is not all there): the last trained model, never vetted, is not served in its place.

This module only picks the version and finds its files; ``loader.py`` verifies and reads
them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction import mirror
from {{ cookiecutter.module_name }}.prediction.layout import (
    AUDIT_FILE,
    METADATA_FILE,
    POINTER_FILE,
    PROD_STAGE,
    VERSION_PATTERN,
    VERSIONS_FOLDER,
)
from {{ cookiecutter.module_name }}.prediction.loader import (
    ModelLoadError,
    load_certified,
    load_model,
    read_metadata,
)
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel
from {{ cookiecutter.module_name }}.prediction.objects import (
    ObjectStore,
    ObjectStoreError,
    open_object_store,
)
from {{ cookiecutter.module_name }}.prediction.vetting import (
    check_seal,
    check_vouched,
    store_key,
)
from {{ cookiecutter.module_name }}.storage import read_json

log = logging.getLogger(__name__)

MOVES = frozenset({"promote", "rollback"})  # audit events that move the prod pointer
ABANDONED = "abandoned"  # a move whose audit line was written but whose pointer never moved

__all__ = [
    "ABANDONED",
    "AUDIT_FILE",
    "METADATA_FILE",
    "MOVES",
    "POINTER_FILE",
    "PROD_STAGE",
    "VERSIONS_FOLDER",
    "VERSION_PATTERN",
    "ModelStore",
    "Pointer",
    "StoreUnreachable",
    "effective_moves",
    "load_served_model",
]


class StoreUnreachable(ModelLoadError):
    """The remote store could not be read (network, credentials): try again later."""


@dataclass(frozen=True)
class Pointer:
    """Which version is in prod, and the prod versions before it (oldest first).

    ``vetted`` maps versions to the file hashes their promotion vetted, ``signature`` seals
    the rest (``vetting.py``); pointers written before these existed have neither.
    """

    version: str
    history: tuple[str, ...] = ()
    vetted: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    signature: str | None = None

    def content(self) -> dict[str, Any]:
        """What the pointer says, without its seal."""
        content: dict[str, Any] = {"version": self.version, "history": list(self.history)}
        if self.vetted:
            content["vetted"] = self.vetted
        return content

    def to_json(self) -> dict[str, Any]:
        """The pointer file's content."""
        content = self.content()
        return {**content, "signature": self.signature} if self.signature else content


@dataclass(frozen=True)
class ModelStore:
    """Paths inside the store; the one place that knows its layout.

    ``remote``: the object store (``s3://bucket/prefix``) when ``paths.registry`` is one;
    ``root`` is then this machine's mirror of it (``paths.registry_cache``), which
    ``sync`` brings up to date and everything else reads exactly as a local store.
    """

    root: Path
    remote: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelStore:
        """The store ``paths.registry`` names (a folder, or an object store's mirror)."""
        return cls(settings.paths.registry, settings.paths.registry_url)

    @property
    def objects(self) -> ObjectStore | None:
        """The remote object store, or None for a store that is only a folder."""
        return open_object_store(self.remote) if self.remote else None

    @property
    def location(self) -> str:
        """Where the store is, for messages: its URL, else its folder."""
        return self.remote or str(self.root)

    def sync(self, every_version: bool = False) -> None:
        """Bring the mirror up to date with the remote store (nothing for a folder): the
        pointer, the audit log and the prod version's files (``every_version``: all)."""
        try:
            objects = self.objects
            if objects is not None:
                mirror.pull(self.root, objects, every_version)
        except (ObjectStoreError, ValueError, KeyError, OSError) as error:
            raise StoreUnreachable(f"cannot read the model store {self.remote}: {error}") from None

    @property
    def pointer_path(self) -> Path:
        return self.root / POINTER_FILE

    @property
    def audit_path(self) -> Path:
        return self.root / AUDIT_FILE

    @property
    def versions_root(self) -> Path:
        return self.root / VERSIONS_FOLDER

    def version_dir(self, version: str) -> Path:
        """The folder of one version; refuses names that are not versions (no path tricks)."""
        if not VERSION_PATTERN.match(version):
            raise ModelLoadError(f"{version!r} is not a model version (expected v1.0.0, ...)")
        return self.versions_root / version

    def metadata_path(self, version: str) -> Path:
        return self.version_dir(version) / METADATA_FILE

    def artifact_path(self, version: str, metadata: dict[str, Any]) -> Path:
        """The artifact file the metadata names, inside the version's folder."""
        return self.version_dir(version) / Path(str(metadata["artifact"]["file"])).name

    def reference_profile_path(self, version: str, metadata: dict[str, Any]) -> Path | None:
        """The version's reference profile (for drift monitoring), if its metadata names one."""
        entry = metadata.get("reference_profile") or {}
        if not entry.get("file"):
            return None
        return self.version_dir(version) / Path(str(entry["file"])).name

    def read_pointer(self) -> Pointer | None:
        """The prod pointer, or None before the first promotion."""
        if not self.pointer_path.is_file():
            return None
        try:
            raw = read_json(self.pointer_path)
            vetted = {
                str(version): {str(name): str(sha) for name, sha in hashes.items()}
                for version, hashes in (raw.get("vetted") or {}).items()
            }
            pointer = Pointer(
                str(raw["version"]),
                tuple(str(v) for v in raw.get("history", [])),
                vetted,
                raw.get("signature"),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ModelLoadError(
                f"prod pointer {self.pointer_path} is unreadable: {error}"
            ) from None
        self.version_dir(pointer.version)  # validates the name
        return pointer

    def audit_entries(self) -> list[dict[str, Any]]:
        """Every audit entry, oldest first; a line cut short by a crash is skipped (the
        registry warns about it)."""
        if not self.audit_path.is_file():
            return []
        entries = []
        for line in self.audit_path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                entries.append(entry)
        return entries

    def last_change(self) -> dict[str, Any] | None:
        """The newest audit entry (event, from, to, at, by, reason), or None if there is none.

        Servers log it beside each swap, so their log says who moved prod and why.
        """
        entries = self.audit_entries()
        return entries[-1] if entries else None

    def last_move(self) -> dict[str, Any] | None:
        """The newest promotion or rollback that moved prod, or None if prod never moved."""
        moves = effective_moves(self.audit_entries())
        return moves[-1] if moves else None

    def recent_changes(self, count: int) -> list[dict[str, Any]]:
        """The newest ``count`` promotions and rollbacks that moved prod, newest first
        (``/dashboard`` shows them); an abandoned move is not one."""
        return effective_moves(self.audit_entries())[::-1][:count]

    def load_version(
        self,
        version: str,
        extra_trusted: tuple[str, ...] = (),
        runtime: str = "auto",
        vouched: dict[str, str] | None = None,
    ) -> LoadedModel:
        """Load one stored version, verifying its artifact (and ONNX copy) against its
        metadata, and first its metadata against the hashes its promotion ``vouched`` for."""
        metadata_path = self.metadata_path(version)
        if not metadata_path.is_file():
            raise ModelLoadError(f"version {version} is not in the store {self.root}")
        metadata = read_metadata(metadata_path)
        if vouched is not None:
            check_vouched(version, metadata, vouched)
        try:
            artifact = self.artifact_path(version, metadata)
        except (KeyError, TypeError) as error:
            raise ModelLoadError(f"metadata {metadata_path} is unreadable: {error}") from None
        return load_certified(artifact, metadata, extra_trusted, runtime)


def effective_moves(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The promotions and rollbacks that moved prod, oldest first: each ``abandoned`` line
    cancels the move just before it (written, then interrupted before the pointer moved)."""
    moves: list[dict[str, Any]] = []
    for event in events:
        if event.get("event") == ABANDONED:
            if moves:
                moves.pop()
        elif event.get("event") in MOVES:
            moves.append(event)
    return moves


def load_served_model(settings: Settings) -> LoadedModel:
    """The model to serve: the prod version of the store, else (if allowed) the last trained.

    The returned metadata gains a ``serving`` entry saying where the model came from, so
    ``/metadata`` shows whether a person promoted it.
    """
    store = ModelStore.from_settings(settings)
    trusted = settings.serving.trusted_types
    store.sync()
    pointer = store.read_pointer()
    if pointer is not None:
        model = _load_pointed(store, pointer, pointer.version, settings)
        if model.version != pointer.version:
            raise ModelLoadError(
                f"the store's prod pointer names {pointer.version} but that folder holds "
                f"{model.version}: the store was edited by hand; promote a version again"
            )
        return _with_serving_note(model, {"source": "registry", "stage": PROD_STAGE})
    moved = store.last_move()
    if moved is not None:
        raise ModelLoadError(
            f"the prod pointer {store.pointer_path} is missing, yet the store's audit log "
            f"records a {moved.get('event')} to {moved.get('to')} at {moved.get('at')}: the "
            "file was deleted or the store is not all there (unmounted?). The last trained "
            "model is never served in place of a promoted one: restore the store, or put a "
            "version in prod again with `make promote VERSION=...`"
        )
    if not settings.serving.serve_unpromoted:
        raise ModelLoadError(
            f"no version is in prod in the model store {store.location}: promote one with "
            "`make promote VERSION=...` (serving.serve_unpromoted is false)"
        )
    model = load_model(
        settings.paths.model, settings.paths.metadata, trusted, runtime=settings.inference.runtime
    )
    log.warning(
        "no version promoted to prod yet: serving the last trained model %s, unpromoted",
        model.version,
    )
    note = {
        "source": "workspace",
        "stage": "unpromoted",
        "detail": "no version is in prod yet; `make promote VERSION=...` puts one there",
    }
    return _with_serving_note(model, note)


def load_last_good(settings: Settings) -> LoadedModel | None:
    """The newest earlier prod version (the pointer's history) that loads and verifies.

    For a worker that starts while the prod version is refused: the workers that refused
    the swap still serve the version before it, and a restarted one must come back with
    it, not with nothing. Only versions the registry once put in prod are candidates, each
    verified as any prod version is. None when there is no pointer or none verifies.
    """
    store = ModelStore.from_settings(settings)  # a remote store: the mirror just synced
    try:
        pointer = store.read_pointer()
    except ModelLoadError:
        return None
    for version in reversed(pointer.history if pointer else ()):
        try:
            model = _load_pointed(store, pointer, version, settings)
        except ModelLoadError as error:
            log.warning("earlier prod version %s refused too: %s", version, error)
            continue
        if model.version == version:
            return _with_serving_note(model, {"source": "registry", "stage": PROD_STAGE})
    return None


def _load_pointed(
    store: ModelStore, pointer: Pointer, version: str, settings: Settings
) -> LoadedModel:
    """A version the pointer names, loaded only as its promotion vetted it: with the store
    key set, the pointer's seal must verify and name the version's hashes."""
    key = store_key()
    if key is not None:
        check_seal(pointer.content(), pointer.signature, key, store.pointer_path)
        if version not in pointer.vetted:
            raise ModelLoadError(
                f"the prod pointer {store.pointer_path} vouches for no hashes of {version}: "
                "promote it again with the store key set"
            )
    return store.load_version(
        version,
        settings.serving.trusted_types,
        settings.inference.runtime,
        pointer.vetted.get(version),
    )


def _with_serving_note(model: LoadedModel, note: dict[str, str]) -> LoadedModel:
    return dataclasses.replace(model, metadata={**model.metadata, "serving": note})
