"""Which model is in prod, for a retrain to compare its candidate with.

The model store's pointer says so where the store lives. A machine without the store (a
CI runner, a fresh clone) still has the git tags: the version they put in prod is read
at its registered commit through DVC (from the cache, else the DVC remote), so the
scheduled retrain compares with the real champion there too.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.loader import (
    ModelLoadError,
    load_model,
)
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel
from {{ cookiecutter.module_name }}.prediction.store import (
    PROD_STAGE,
    ModelStore,
)
from {{ cookiecutter.module_name }}.registry import tags
from {{ cookiecutter.module_name }}.registry.lineage import RegistryError
from {{ cookiecutter.module_name }}.registry.restore import (
    read_version,
    verify_stored,
)


@dataclass(frozen=True)
class Champion:
    """The prod model (or why it could not be loaded), and where it was found."""

    model: LoadedModel | None = None
    version: str | None = None
    problem: str | None = None
    source: str = ""


def find(settings: Settings) -> Champion:
    """The store's prod version; else the one git tags put in prod; else no champion."""
    store = ModelStore.from_settings(settings)
    try:
        store.sync()
    except ModelLoadError as error:
        raise RegistryError(str(error)) from None
    pointer = store.read_pointer()
    if pointer is not None:
        try:
            registered = tags.list_versions(settings.root, settings.registry.artifact)
            verify_stored(settings, _tag_of(settings, pointer.version, registered))
            model = store.load_version(pointer.version, settings.serving.trusted_types)
        except (ModelLoadError, RegistryError) as error:
            problem = f"prod {pointer.version} cannot be loaded ({error})"
            return Champion(version=pointer.version, problem=problem, source="the model store")
        return Champion(model, pointer.version, source="the model store")
    in_prod = [
        tagged
        for tagged in tags.list_versions(settings.root, settings.registry.artifact)
        if PROD_STAGE in tagged.stages
    ]
    if not in_prod:
        return Champion()
    version, commit = in_prod[0].version, in_prod[0].commit
    source = f"git tags, read at commit {commit[:8]} through DVC"
    try:
        return Champion(read_at_commit(settings, in_prod[0]), version, source=source)
    except (ModelLoadError, RegistryError) as error:
        problem = f"prod {version} (from the git tags) cannot be read through DVC ({error})"
        return Champion(version=version, problem=problem, source=source)


def _tag_of(
    settings: Settings, version: str, registered: list[tags.TaggedVersion]
) -> tags.TaggedVersion:
    """The git tag of the store's prod version: what its files are checked against."""
    for tagged in registered:
        if tagged.version == version:
            return tagged
    raise RegistryError(
        f"no git tag {settings.registry.artifact}@{version} records it, so its files "
        "cannot be checked (fetch the tags: git fetch --tags)"
    )


def read_at_commit(settings: Settings, tagged: tags.TaggedVersion) -> LoadedModel:
    """The model and metadata as the tag's dvc.lock pins them, verified as the store would."""
    with tempfile.TemporaryDirectory(prefix="champion-") as folder:
        files = read_version(settings, tagged, Path(folder))
        return load_model(
            files.model, files.metadata_file, settings.serving.trusted_types, runtime="sklearn"
        )
