"""Zero-downtime model swaps: every worker follows the store's prod pointer, no restart.

A promotion or rollback replaces the pointer file atomically. Each worker looks at it (one
``stat`` call) at most every ``serving.reload_interval`` seconds, on the request path; when
it moved, the worker loads and verifies the new version *beside* the old one and only then
swaps the reference its requests read. With a store in an object store (``s3://``), the
look is one HEAD request for the pointer's ETag, and a moved pointer is first mirrored to
this machine (``prediction/mirror.py``): servers on every machine follow the same pointer
within the interval; a store that cannot be reached is tried again at the next interval,
the current model serving meanwhile. A version that fails to load or verify is refused:
the old model keeps serving and the reason is logged and shown in ``/metadata``. Each swap
and each refusal is logged with the change that caused it, read from the store's audit
log: which version, who promoted it (or rolled back to it), when and why.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.loader import ModelLoadError
from {{ cookiecutter.module_name }}.prediction.objects import ObjectStoreError
from {{ cookiecutter.module_name }}.prediction.store import (
    POINTER_FILE,
    ModelStore,
    StoreUnreachable,
    load_served_model,
)

log = logging.getLogger(__name__)

# A local pointer's (inode, mtime, size), or a remote one's ETag; None: no pointer.
Signature = tuple[int, int, int] | str | None


def pointer_signature(path: Path) -> Signature:
    """What identifies one pointer file: an atomic replace gives a new inode and mtime."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return (status.st_ino, status.st_mtime_ns, status.st_size)


class ModelWatcher:
    """Swaps ``app.extensions["model"]`` when the prod pointer moves; one per worker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = ModelStore.from_settings(settings)
        self.pointer = self.store.pointer_path
        self.interval = settings.serving.reload_interval
        # Taken before the first load, so a promotion during start-up is not missed.
        try:
            self.signature = self._signature()
        except ObjectStoreError:
            self.signature = None
        self.next_check = time.monotonic() + self.interval
        self.lock = threading.Lock()

    def refresh(self, app: Flask) -> None:
        """Cheap when nothing moved; never raises into the request that triggered it."""
        now = time.monotonic()
        if now < self.next_check or not self.lock.acquire(blocking=False):
            return
        try:
            self.next_check = now + self.interval
            try:
                signature = self._signature()
            except ObjectStoreError as error:
                log.warning(
                    "prod pointer not checked, tried again in %ss: %s", self.interval, error
                )
                return
            if signature == self.signature:
                return
            if self._swap(app):
                self.signature = signature
        finally:
            self.lock.release()

    def _signature(self) -> Signature:
        """What identifies the current pointer: a ``stat``, or one HEAD in an object store."""
        objects = self.store.objects
        if objects is None:
            return pointer_signature(self.pointer)
        return objects.tag(POINTER_FILE)

    def _swap(self, app: Flask) -> bool:
        """Load the new prod model and swap; False if the store could not be read (the
        pointer is then looked at again next interval)."""
        old = app.extensions.get("model")
        served = old.version if old is not None else "nothing"
        try:
            self.store.sync()
            change = self._change()
            new = load_served_model(self.settings)
        except StoreUnreachable as error:
            log.warning("prod pointer moved, still serving %s until it is read: %s", served, error)
            return False
        except ModelLoadError as error:
            change = self._change()
            log.error("new prod model refused (%s), still serving %s: %s", change, served, error)
            app.extensions["swap_error"] = str(error)
            if old is None:
                app.extensions["model_error"] = str(error)
            return True
        app.extensions["model"] = new  # one reference assignment: requests see old or new
        app.extensions.pop("model_error", None)
        app.extensions.pop("swap_error", None)
        log.info("model swapped: %s -> %s (%s)", served, new.version, change)
        return True

    def _change(self) -> str:
        """The pointer's new version and the audit entry that put it there, in words."""
        try:
            pointer = self.store.read_pointer()
        except ModelLoadError as error:
            return f"prod pointer unreadable: {error}"
        if pointer is None:
            return "no version in prod any more"
        return describe_change(pointer.version, self.store.last_change())


def describe_change(version: str, entry: dict[str, Any] | None) -> str:
    """``v2.0.0, promote by Ann Lee <ann@x> at 2026-...: reason`` (or why it is unknown).

    Only the newest entry can describe the pointer's move: an older one naming the same
    version is an earlier promotion. The registry appends the entry just before moving the
    pointer, so a move it made always finds its entry.
    """
    if entry is None or entry.get("to") != version:
        return f"{version}, not (yet) in the store's audit log: moved by hand?"
    forced = " (FORCED)" if entry.get("forced") else ""
    return (
        f"{version}, {entry.get('event', 'change')}{forced} by {entry.get('by', 'unknown')} "
        f"at {entry.get('at', '?')}: {entry.get('reason', '')}"
    )


def install_reload(app: Flask, settings: Settings) -> ModelWatcher:
    """Check the pointer before each request (a no-op when reload_interval is negative)."""
    watcher = ModelWatcher(settings)
    if settings.serving.reload_interval >= 0:
        app.before_request(lambda: watcher.refresh(app))
    return watcher
