"""What ``make models`` shows: every version with its stage, score, author and lineage.

Written for a person at a terminal: one sentence first saying what serves, then the
versions newest first, then the last changes newest first; names without emails, times
in UTC to the minute, and no line wider than :data:`WIDTH` columns.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.loader import ModelLoadError
from {{ cookiecutter.module_name }}.prediction.store import (
    PROD_STAGE,
    ModelStore,
    Pointer,
    effective_moves,
)
from {{ cookiecutter.module_name }}.registry import (
    publish,
    tags,
)
from {{ cookiecutter.module_name }}.registry.lineage import RegistryError
from {{ cookiecutter.module_name }}.storage import read_json

WIDTH = 100
RECENT_EVENTS = 5
NEVER_PROMOTED = "never promoted"
_EMAIL = re.compile(r"\s*<[^>]*>\s*")


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
    store = ModelStore.from_settings(settings)
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
        stage = NEVER_PROMOTED
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
    unfinished = publish.unfinished_change(store)
    if unfinished is not None:
        warnings.append(
            f"an unfinished {unfinished.get('event')} to {unfinished.get('to')} "
            f"(started {display_time(str(unfinished.get('at', '')))} UTC by "
            f"{display_name(str(unfinished.get('by', '')))}): its audit line was written but "
            f"prod did not move from {served or 'none'}; the next make register, promote or "
            "rollback records it as abandoned"
        )
    if git_prod != served:
        warnings.append(
            f"git tags say prod is {git_prod or 'none'} but the store serves {served or 'none'} "
            "(an interrupted promotion?): run make promote or make rollback again to settle it"
        )
    return rows, warnings


def display_name(who: str) -> str:
    """A person as people say it: ``Ann Lee <ann@x.com>`` -> ``Ann Lee`` (never the email)."""
    name = _EMAIL.sub(" ", who).strip()
    return name.split("@", 1)[0] if "@" in name else name or "unknown"


def display_time(moment: str) -> str:
    """An ISO 8601 time as ``YYYY-MM-DD HH:MM`` in UTC (as given if it is not one)."""
    try:
        parsed = datetime.fromisoformat(moment)
    except ValueError:
        return moment
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def headline(pointer: Pointer | None, events: list[dict[str, Any]], serve_unpromoted: bool) -> str:
    """One plain sentence: which version serves, since when, and who put it there."""
    moves = effective_moves(events)
    if pointer is None and moves:
        return (
            f"No prod pointer, yet the audit log records a {moves[-1].get('event')} to "
            f"{moves[-1].get('to')}: starting servers are not ready (they never fall back on "
            "the last trained model). Restore the store's prod.json, or: make promote VERSION=..."
        )
    if pointer is None:
        if serve_unpromoted:
            return (
                "No version is in prod yet: servers serve the last trained model, unpromoted. "
                "Put a version in prod with: make promote VERSION=..."
            )
        return (
            "No version is in prod yet, and servers serve nothing until one is "
            "(serving.serve_unpromoted is false): make promote VERSION=..."
        )
    if moves and moves[-1].get("to") != pointer.version == moves[-1].get("from"):
        moves = moves[:-1]  # an unfinished change (warned about below): prod did not move
    last = moves[-1] if moves else None
    if last is None or last.get("to") != pointer.version:  # moved without the registry
        return f"{pointer.version} is in prod (the audit log does not say since when or who)."
    how = "rolled back to it" if last.get("event") == "rollback" else "promoted"
    return (
        f"{pointer.version} is in prod since {display_time(str(last.get('at', '')))} UTC "
        f"({how} by {display_name(str(last.get('by', '')))})."
    )


def format_table(header: list[str], rows: list[list[str]], shrink: int) -> list[str]:
    """Aligned columns within :data:`WIDTH`; column ``shrink`` is cut (with …) to fit."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    excess = sum(widths) + 2 * (len(widths) - 1) - WIDTH
    if excess > 0:
        widths[shrink] = max(len(header[shrink]), widths[shrink] - excess)
    lines = [header, ["-" * width for width in widths], *rows]
    return [
        "  ".join(
            _fit(cell, width).ljust(width) for cell, width in zip(line, widths, strict=True)
        ).rstrip()[:WIDTH]
        for line in lines
    ]


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _wrap(text: str, indent: str = "", hanging: str = "    ") -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=hanging)


def _data_cell(data: str) -> str:
    """The first data hash, and how many more (they rarely fit side by side)."""
    hashes = [item for item in data.split(", ") if item]
    if len(hashes) <= 1:
        return data
    return f"{hashes[0]} +{len(hashes) - 1}"


def render(settings: Settings) -> list[str]:
    """The lines of ``make models``: headline, versions, warnings, last changes to prod."""
    store = ModelStore.from_settings(settings)
    try:
        store.sync(every_version=True)  # a store shared in an object store: as it is now
    except ModelLoadError as error:
        raise RegistryError(str(error)) from None
    events = publish.read_audit(store)
    lines = _wrap(headline(store.read_pointer(), events, settings.serving.serve_unpromoted))
    rows, warnings = list_models(settings)
    lines.append("")
    if not rows:
        lines.append("No registered versions yet. Train (make train), commit, then: make register")
    else:
        metric = settings.evaluate.metric
        header = ["VERSION", "STAGE", metric.upper(), "REGISTERED (UTC)", "BY", "COMMIT", "DATA"]
        body = [
            [
                row.version,
                row.stage,
                "" if row.metric is None else f"{row.metric:.4f}",
                display_time(row.registered_at),
                display_name(row.registered_by),
                row.commit,
                _data_cell(row.data),
            ]
            for row in rows
        ]
        lines.extend(format_table(header, body, shrink=header.index("BY")))
    for warning in warnings:
        lines.extend(_wrap(f"warning: {warning}"))
    if events:
        lines.extend(["", "Last changes to prod, newest first:"])
        for event in reversed(events[-RECENT_EVENTS:]):
            forced = " (FORCED)" if event.get("forced") else ""
            change = (
                f"{display_time(str(event.get('at', '')))}  {event.get('event')}{forced} "
                f"{event.get('from') or 'none'} -> {event.get('to')}  "
                f"by {display_name(str(event.get('by', '')))}: {event.get('reason', '')}"
            )
            lines.extend(_wrap(change, indent="  ", hanging="      "))
    return lines
