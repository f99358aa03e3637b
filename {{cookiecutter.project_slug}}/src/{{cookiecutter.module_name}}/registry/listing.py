"""What ``make models`` shows: every version with its stage, score, author and lineage."""

from __future__ import annotations

from dataclasses import dataclass

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.store import (
    PROD_STAGE,
    ModelStore,
)
from {{ cookiecutter.module_name }}.registry import tags
from {{ cookiecutter.module_name }}.storage import read_json


@dataclass(frozen=True)
class Row:
    """One line of ``make models``."""

    version: str
    stage: str
    metric: float | None
    registered_at: str
    registered_by: str
    commit: str
    data: str


def list_models(settings: Settings) -> tuple[list[Row], list[str]]:
    """Every registered version with its stage and metric; warnings about inconsistencies."""
    store = ModelStore(settings.paths.registry)
    pointer = store.read_pointer()
    metric = settings.evaluate.metric
    rows, warnings = [], []
    git_prod = None
    for tagged in tags.list_versions(settings.root, settings.registry.artifact):
        if PROD_STAGE in tagged.stages:
            git_prod = tagged.version
        path = store.metadata_path(tagged.version)
        metadata = read_json(path) if path.is_file() else {}
        if not metadata:
            warnings.append(f"{tagged.version} has no copy in the store {store.root}")
        lineage = metadata.get("lineage", {})
        stage = ""
        if pointer and tagged.version == pointer.version:
            stage = PROD_STAGE
        elif pointer and tagged.version in pointer.history:
            stage = "was prod"
        rows.append(
            Row(
                version=tagged.version,
                stage=stage,
                metric=metadata.get("metrics", {}).get("model", {}).get(metric),
                registered_at=lineage.get("registered_at", tagged.created_at),
                registered_by=lineage.get("registered_by", tagged.author),
                commit=tagged.commit[:8],
                data=", ".join(md5[:8] for md5 in lineage.get("data", {}).values()),
            )
        )
    served = pointer.version if pointer else None
    if git_prod != served:
        warnings.append(
            f"git tags say prod is {git_prod or 'none'} but the store serves {served or 'none'} "
            "(an interrupted promotion?): run make promote or make rollback again to settle it"
        )
    return rows, warnings
