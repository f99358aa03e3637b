"""Which model monitoring compares against: its metadata and its reference profile.

By default the version in prod (the model store's pointer), else the last trained model,
as the server would choose. A stored version carries its own profile; one registered
before profiles existed falls back to ``paths.reference_profile`` only if that profile
was built for the same artifact (its sha256 says so), never for another model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from {{ cookiecutter.module_name }}.config import (
    Settings,
)
from {{ cookiecutter.module_name }}.monitoring.profile import (
    PROFILE_FORMAT,
)
from {{ cookiecutter.module_name }}.prediction.loader import ModelLoadError
from {{ cookiecutter.module_name }}.prediction.store import (
    VERSION_PATTERN,
    ModelStore,
)
from {{ cookiecutter.module_name }}.storage import (
    read_json,
)


class MonitoringError(RuntimeError):
    """Monitoring cannot run as asked; the message says what is missing and what to do."""


@dataclass(frozen=True)
class Reference:
    """A model version, its metadata and the profile of its training data."""

    version: str
    metadata: dict[str, Any]
    profile: dict[str, Any]

    @property
    def logged_versions(self) -> set[str]:
        """Names this model had in the log: its version and, once registered, the hash
        version it was served under before (unpromoted)."""
        trained_as = (self.metadata.get("lineage") or {}).get("trained_as")
        return {self.version, *([str(trained_as)] if trained_as else [])}


def served_version(settings: Settings) -> str | None:
    """The prod version of the model store, or None when nothing was promoted."""
    try:
        store = ModelStore.from_settings(settings)
        store.sync()  # a store shared in an object store: its current pointer
        pointer = store.read_pointer()
    except ModelLoadError as error:
        raise MonitoringError(str(error)) from None
    return pointer.version if pointer else None


def version_metadata(settings: Settings, version: str | None) -> tuple[dict[str, Any], Path]:
    """(metadata, reference profile path) of a stored version, or of the last trained model
    when ``version`` is None or names it (its hash version). A hash version that was
    registered since is found in the store by its lineage (``trained_as``)."""
    store = ModelStore.from_settings(settings)
    if version is not None and not VERSION_PATTERN.match(version):
        version = registered_as(store, version) or version
    if version is not None and VERSION_PATTERN.match(version):
        path = store.metadata_path(version)
        if not path.is_file():
            raise MonitoringError(f"version {version} is not in the model store {store.root}")
        metadata = _read(path)
        profile = store.reference_profile_path(version, metadata)
        return metadata, profile or settings.paths.reference_profile
    path = settings.paths.metadata
    if not path.is_file():
        raise MonitoringError(f"no model metadata at {path}: train a model first (make train)")
    metadata = _read(path)
    if version is not None and str(metadata.get("version")) != version:
        raise MonitoringError(
            f"version {version!r} is neither in the model store nor the last trained model "
            f"({metadata.get('version')}); list versions with make models"
        )
    return metadata, settings.paths.reference_profile


def registered_as(store: ModelStore, trained_as: str) -> str | None:
    """The stored version registered from the model served as ``trained_as`` (its hash
    version before registration), or None."""
    if not store.versions_root.is_dir():
        return None
    for folder in sorted(store.versions_root.iterdir()):
        if not VERSION_PATTERN.match(folder.name):  # e.g. an export's unfinished staging folder
            continue
        path = store.metadata_path(folder.name)
        if path.is_file() and (_read(path).get("lineage") or {}).get("trained_as") == trained_as:
            return folder.name
    return None


def load_reference(settings: Settings, version: str | None = None) -> Reference:
    """The reference of ``version`` (default: the served one), profile checked against it."""
    metadata, profile_path = version_metadata(settings, version or served_version(settings))
    if not profile_path.is_file():
        raise MonitoringError(
            f"no reference profile at {profile_path}: retrain (make train) to write one; "
            "models trained before monitoring existed have none"
        )
    profile = _read(profile_path)
    expected = (metadata.get("artifact") or {}).get("sha256")
    if profile.get("artifact_sha256") != expected:
        raise MonitoringError(
            f"the reference profile {profile_path} was built for another model than "
            f"{metadata.get('version')}: register the model again after make train"
        )
    if profile.get("format") != PROFILE_FORMAT:
        raise MonitoringError(
            f"the reference profile {profile_path} has format {profile.get('format')!r}, this "
            f"code reads format {PROFILE_FORMAT}: retrain (make train) to rebuild it"
        )
    return Reference(str(metadata["version"]), metadata, profile)


def _read(path: Path) -> dict[str, Any]:
    try:
        content = read_json(path)
    except (OSError, ValueError) as error:
        raise MonitoringError(f"{path} is unreadable: {error}") from None
    if not isinstance(content, dict):
        raise MonitoringError(f"{path} does not hold a JSON object")
    return content
