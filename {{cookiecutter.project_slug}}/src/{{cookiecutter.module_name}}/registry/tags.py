"""Versions and stages as git tags, through GTO (the registry that ships with DVC).

``model@v2.0.0`` registers a version on the commit that reproduces it;
``model#prod#N`` assigns it to prod. A rollback is a new assignment of the older
version, so git keeps the whole history. Tags stay local: push them with
``git push --tags`` like any tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gto import api as gto
from gto.exceptions import ArtifactNotFound, GTOException

from {{ cookiecutter.module_name }}.registry.lineage import (
    RegistryError,
    git,
    person,
)

_MAJOR = re.compile(r"^v(\d+)\.")


@dataclass(frozen=True)
class TaggedVersion:
    """One registered version as git knows it."""

    version: str
    commit: str
    created_at: str
    author: str
    stages: tuple[str, ...]


def list_versions(root: Path, artifact: str) -> list[TaggedVersion]:
    """Registered versions, newest first; empty before the first registration."""
    try:
        shown = gto.show(str(root), artifact, registered_only=True)
    except ArtifactNotFound:
        return []
    except GTOException as error:
        raise RegistryError(f"cannot read the model versions from git tags: {error}") from None
    versions = [
        TaggedVersion(
            version=str(item["version"]),
            commit=str(item["commit_hexsha"]),
            created_at=item["created_at"].isoformat(),
            author=person(item.get("author"), item.get("author_email")),
            stages=tuple(str(stage["stage"]) for stage in item.get("stages", [])),
        )
        for item in shown
    ]
    return sorted(versions, key=lambda tagged: version_key(tagged.version), reverse=True)


def version_key(version: str) -> tuple[int, ...]:
    """Sort key of ``v1.2.3``."""
    return tuple(int(part) for part in version.lstrip("v").split("."))


def next_version(existing: list[TaggedVersion]) -> str:
    """Each registration is a new major version: v1.0.0, v2.0.0, ..."""
    majors = [int(match.group(1)) for t in existing if (match := _MAJOR.match(t.version))]
    return f"v{max(majors, default=0) + 1}.0.0"


def require_identity(root: Path) -> None:
    """Tags record who made them: refuse, with the fix, when git does not know the user."""
    try:
        git(root, "config", "user.name")
        git(root, "config", "user.email")
    except RegistryError:
        raise RegistryError(
            "git does not know who you are, and every version and promotion records it: "
            "git config user.name 'Your Name' && git config user.email 'you@example.com'"
        ) from None


def register(root: Path, artifact: str, version: str, commit: str, message: str) -> None:
    """Tag ``commit`` as ``artifact@version``."""
    require_identity(root)
    try:
        gto.register(str(root), artifact, commit, version=version, message=message)
    except GTOException as error:
        raise RegistryError(f"git tag for {artifact}@{version} not created: {error}") from None


def assign(root: Path, artifact: str, version: str, stage: str, message: str) -> None:
    """Tag ``version`` as being in ``stage`` (a new assignment, even if it was there before)."""
    require_identity(root)
    try:
        gto.assign(str(root), artifact, stage, version=version, message=message, force=True)
    except GTOException as error:
        raise RegistryError(
            f"git tag assigning {version} to {stage} not created: {error}"
        ) from None
