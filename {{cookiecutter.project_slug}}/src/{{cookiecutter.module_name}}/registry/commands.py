"""The registry's commands: register a trained model, promote a version, roll back.

Order of writes in a promotion or rollback: (0) the version's folder in the store,
exported from git and DVC if the store lacks it (``restore.py``), (1) every check (the
stored files against the md5 their git tag's dvc.lock records, before anything opens
them; the artifact's sha256; the gate; a person's confirmation), (2) the audit line,
(3) the git tag (GTO), (4) the store's prod pointer (the switch the server follows).
Nothing before (4) changes what is served, and prod never moves without its audit line.
A crash after (2) leaves an unfinished change, which ``models`` reports and the next
command that takes the store's lock records as abandoned; a crash after (3) also leaves
git ahead of the store, which ``models`` reports. ``register`` exports the version at
once, so the gate and ``models`` can read it before any promotion.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.loader import (
    ModelLoadError,
    load_model,
)
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel
from {{ cookiecutter.module_name }}.prediction.store import (
    PROD_STAGE,
    ModelStore,
    Pointer,
)
from {{ cookiecutter.module_name }}.registry import (
    publish,
    tags,
)
from {{ cookiecutter.module_name }}.registry.gate import (
    compare,
    describe,
    refusal,
)
from {{ cookiecutter.module_name }}.registry.lineage import (
    RegistryError,
    committed_lineage,
    utc_now,
    whoami,
)
from {{ cookiecutter.module_name }}.registry.restore import (
    restore_version,
    verify_stored,
    versioned_metadata,
)
from {{ cookiecutter.module_name }}.storage import read_json

Confirm = Callable[[str], bool]
Say = Callable[[str], None]
_VERSION_INPUT = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$")


def normalize_version(text: str) -> str:
    """Accept ``v2``, ``2``, ``v2.0`` or ``v2.0.0``; return ``v2.0.0``."""
    match = _VERSION_INPUT.match(text.strip())
    if not match:
        raise RegistryError(f"{text!r} is not a version: write it like v2 or v2.0.0")
    major, minor, patch = (int(part or 0) for part in match.groups())
    return f"v{major}.{minor}.{patch}"


def _store(settings: Settings) -> ModelStore:
    return ModelStore.from_settings(settings)


@contextmanager
def _locked(settings: Settings, say: Say) -> Iterator[None]:
    """Hold the store's lock, first settling a change a crash left unfinished."""
    store = _store(settings)
    with publish.exclusive(store):
        if publish.unfinished_change(store) is not None:
            settled = publish.settle_unfinished(store, at=utc_now(), by=whoami(settings.root))
            if settled:
                say(f"Note: {settled['reason']} (recorded in the audit log as abandoned).")
        yield


def _tagged(
    settings: Settings, version: str, registered: list[tags.TaggedVersion] | None = None
) -> tags.TaggedVersion:
    """The registered ``version`` as git knows it (among ``registered``, when the caller
    has listed them already); a refusal listing the known ones."""
    if registered is None:
        registered = tags.list_versions(settings.root, settings.registry.artifact)
    for tagged in registered:
        if tagged.version == version:
            return tagged
    known = ", ".join(t.version for t in registered) or (
        "none yet (run `make register` after training)"
    )
    raise RegistryError(f"{version} is not a registered version; registered: {known}")


def _export(
    settings: Settings, version: str, say: Say, tagged: tags.TaggedVersion | None = None
) -> None:
    """Make sure the store holds ``version``: promotion exports it from git and DVC if not
    (``tagged``: its tag, when the caller has already read it)."""
    if not _store(settings).metadata_path(version).is_file():
        restore_version(settings, tagged or _tagged(settings, version), say)


def _load_stored(
    settings: Settings, tagged: tags.TaggedVersion, serving: str | None
) -> LoadedModel:
    """A stored version, checked against its git tag's dvc.lock before it is opened, then
    verified; a refusal that says prod is untouched if it fails."""
    store, version = _store(settings), tagged.version
    keeps = f"prod keeps serving {serving}" if serving else "nothing was changed"
    if not store.metadata_path(version).is_file():
        raise RegistryError(f"{version} has no copy in the model store {store.root}")
    try:
        verify_stored(settings, tagged)
    except RegistryError as error:
        raise RegistryError(f"{version} refused: {error}; {keeps}") from None
    try:
        return store.load_version(version, settings.serving.trusted_types)
    except ModelLoadError as error:
        raise RegistryError(f"{version} refused: {error}; {keeps}") from None


def register(settings: Settings, say: Say = print) -> str:
    """Make the last trained model a version: git tag on its commit, copy in the store."""
    with _locked(settings, say):
        return _register(settings, say)


def _register(settings: Settings, say: Say) -> str:
    root, paths, name = settings.root, settings.paths, settings.registry.artifact
    try:
        model = load_model(paths.model, paths.metadata, settings.serving.trusted_types)
    except ModelLoadError as error:
        raise RegistryError(str(error)) from None
    lineage = committed_lineage(root, paths.model)
    store = _store(settings)
    sha = model.metadata["artifact"]["sha256"]
    versions = tags.list_versions(root, name)
    for tagged in versions:
        stored = store.metadata_path(tagged.version)
        if stored.is_file() and read_json(stored)["artifact"]["sha256"] == sha:
            say(f"This model is already registered as {tagged.version}.")
            return tagged.version
    # The registration's time and author are the tag's, read back from git: the same
    # whether the version is new or re-registered after its store copy was lost.
    tagged = next((item for item in versions if item.commit == lineage["git_commit"]), None)
    version = tagged.version if tagged else tags.next_version(versions)
    if tagged is None:
        message = f"Register {name} {version}: sha256 {sha}"
        tags.register(root, name, version, lineage["git_commit"], message)
        made = tags.list_versions(root, name)
        tagged = next((item for item in made if item.version == version), None)
    metadata = versioned_metadata(model.metadata, version, lineage, root, tagged)
    publish.export_version(store, version, paths.model, metadata, paths.reference_profile)
    metric = settings.evaluate.metric
    say(
        f"Registered {version} (commit {lineage['git_commit'][:8]}, "
        f"{metric} {model.metadata['metrics']['model'][metric]:.4f}). "
        f"It is not served until someone runs: make promote VERSION={version}"
    )
    return version


@dataclass(frozen=True)
class Change:
    """One promotion or rollback, as it goes into the audit log."""

    event: str
    source: str | None
    target: str
    reason: str
    forced: bool
    metrics: dict[str, Any]


def _apply(settings: Settings, change: Change, pointer: Pointer) -> None:
    """Log, tag in git, move the pointer: the only writes of a promotion or rollback.

    The audit line comes first: a crash after it leaves a change that did not happen,
    which the next command records as abandoned; never a pointer moved unrecorded.
    """
    store, root = _store(settings), settings.root
    target = read_json(store.metadata_path(change.target))
    pointer = dataclasses.replace(pointer, vetted=publish.vetted_hashes(store, pointer, target))
    publish.append_audit(
        store,
        {
            "event": change.event,
            "at": utc_now(),
            "by": whoami(root),
            "from": change.source,
            "to": change.target,
            "reason": change.reason,
            "forced": change.forced,
            "metrics": change.metrics,
            "git_commit": target.get("lineage", {}).get("git_commit"),
            "data": target.get("lineage", {}).get("data"),
            "sha256": target["artifact"]["sha256"],
        },
    )
    message = f"{change.event} {change.source or '-'} -> {change.target}: {change.reason}"
    tags.assign(root, settings.registry.artifact, change.target, PROD_STAGE, message)
    publish.write_pointer(store, pointer)


def promote(
    settings: Settings,
    version: str,
    confirm: Confirm,
    force: str | None = None,
    reason: str | None = None,
    say: Say = print,
    new_schema: bool = False,
) -> bool:
    """Put ``version`` in prod after the gate and a person's yes; False if nothing changed.

    ``new_schema`` confirms a change of dataset: prod was trained on other columns or
    another target, so the gate has nothing to compare and asks for this instead.
    """
    with _locked(settings, say):
        return _promote(settings, version, confirm, force, reason, say, new_schema)


def _promote(
    settings: Settings,
    version: str,
    confirm: Confirm,
    force: str | None,
    reason: str | None,
    say: Say,
    new_schema: bool = False,
) -> bool:
    version = normalize_version(version)
    registered = tags.list_versions(settings.root, settings.registry.artifact)
    tagged = _tagged(settings, version, registered)  # refuses an unregistered version first
    pointer = _store(settings).read_pointer()
    current = pointer.version if pointer else None
    if current == version:
        say(f"{version} is already in prod: nothing to do.")
        return False
    _export(settings, version, say, tagged)
    candidate = _load_stored(settings, tagged, current)
    champion, problem = None, None
    if current:
        try:
            champion = _load_stored(settings, _tagged(settings, current, registered), current)
        except RegistryError as error:  # a broken prod must not block its replacement
            problem = f"prod {current} cannot be loaded ({error})"
    comparison = compare(settings, candidate, champion)
    if problem:
        comparison = dataclasses.replace(comparison, champion_problem=problem)
    say(describe(comparison, version, current))
    changes_dataset = comparison.new_schema and new_schema
    if not comparison.passed and not force and not changes_dataset:
        raise RegistryError(refusal(comparison, version, current))
    if changes_dataset:
        say("A new dataset: NEW_SCHEMA=1 confirms that prod changes what it predicts from.")
        reason = reason or "new dataset (NEW_SCHEMA=1)"
    elif not comparison.passed:
        say(f"The gate refused it, but FORCE gives a reason: {force}")
    if not confirm(f"Promote {version} to prod (now: {current or 'none'})?"):
        say("Cancelled: nothing was changed.")
        return False
    history = (*pointer.history, current) if pointer and current else ()
    change = Change(
        event="promote",
        source=current,
        target=version,
        reason=force or reason or "promoted",
        forced=not comparison.passed,
        metrics=comparison.to_json(),
    )
    _apply(settings, change, Pointer(version, history))
    say(
        f"{version} is now in prod (was {current or 'none'}). Running servers switch to it by themselves (serving.reload_interval)."
    )
    return True


def rollback(
    settings: Settings, confirm: Confirm, reason: str | None = None, say: Say = print
) -> bool:
    """Put the previous prod version back; False if the person declined."""
    with _locked(settings, say):
        return _rollback(settings, confirm, reason, say)


def _rollback(settings: Settings, confirm: Confirm, reason: str | None, say: Say) -> bool:
    pointer = _store(settings).read_pointer()
    if pointer is None:
        raise RegistryError("no version is in prod yet: there is nothing to roll back")
    if not pointer.history:
        raise RegistryError(
            f"{pointer.version} is the first version ever put in prod: there is no earlier "
            "one to roll back to (promote another with `make promote VERSION=...`)"
        )
    target = pointer.history[-1]
    tagged = _tagged(settings, target)
    _export(settings, target, say, tagged)
    model = _load_stored(settings, tagged, pointer.version)
    metric = settings.evaluate.metric
    recorded = model.metadata.get("metrics", {}).get("model", {}).get(metric)
    say(f"Roll back prod from {pointer.version} to {target} ({metric} at training: {recorded}).")
    if not confirm(f"Roll back prod to {target}?"):
        say("Cancelled: nothing was changed.")
        return False
    change = Change(
        event="rollback",
        source=pointer.version,
        target=target,
        reason=reason or "rollback",
        forced=False,
        metrics={"metric": metric, "target_at_training": recorded},
    )
    _apply(settings, change, Pointer(target, pointer.history[:-1]))
    say(
        f"{target} is back in prod (was {pointer.version}). Running servers switch to it by themselves (serving.reload_interval)."
    )
    return True
