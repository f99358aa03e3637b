"""One line for the operator when a registry command fails: what failed, and what to do.

The registry's commands are run by a person at a terminal or by CI, who can act on a
sentence but not on a Python traceback. Errors raised on purpose (a refusal, a bad
params.yaml, an unreadable model) already say both. An ``OSError`` (a full, read-only
or forbidden disk) gets its path and the fix for its errno. Anything else is a bug or a
state no check foresaw: one line, and the variable that shows the traceback.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from {{ cookiecutter.module_name }}.config import (
    DEBUG_ENV,
    ConfigError,
)
from {{ cookiecutter.module_name }}.prediction.loader import ModelLoadError
from {{ cookiecutter.module_name }}.registry.lineage import RegistryError

# Their messages are written for the operator: printed as they are.
EXPLAINED = (RegistryError, ConfigError, ModelLoadError)
# Where a failed write leaves things: every write is atomic, and `models` reports a git
# tag that got ahead of the store.
CHECK_STATE = "`make models` shows what was done"
DISK_FULL = "the disk is full: free space on it (df -h {folder}), then run the command again"
FORBIDDEN = (
    "permission denied: run the command as the owner of {folder}, or give this user write "
    "access to it (ls -ld {folder})"
)
_FIXES = {
    errno.ENOSPC: DISK_FULL,
    errno.EDQUOT: "the disk quota is used up: free space (df -h {folder}), then run it again",
    errno.EROFS: (
        "the filesystem holding {folder} is read-only: remount it read-write, or point "
        "paths.registry in params.yaml at a writable folder"
    ),
    errno.EACCES: FORBIDDEN,
    errno.EPERM: FORBIDDEN,
}


def debugging() -> bool:
    """True when the operator asked for tracebacks (``<PROJECT>_DEBUG=1``)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in {"", "0", "false", "no"}


def one_line(text: str) -> str:
    """``text`` with its line breaks and runs of spaces made single spaces."""
    return " ".join(text.split())


def existing_folder(path: Path) -> Path:
    """The nearest folder holding ``path`` that exists (a staging folder may be gone)."""
    return next((parent for parent in path.parents if parent.is_dir()), path.parent)


def explain_os_error(error: OSError) -> str:
    """What the system refused, on which path, and the fix for its errno."""
    # A copy or rename names its destination second: the file that could not be written.
    path = error.filename2 if error.filename2 is not None else error.filename
    problem = error.strerror or str(error) or type(error).__name__
    where = f"{path}: " if path is not None else ""
    fix = _FIXES.get(error.errno) if error.errno is not None else None
    if fix is None:
        return f"error: {where}{one_line(problem)}; {CHECK_STATE}"
    folder = existing_folder(Path(path)) if path is not None else "the project folder"
    return f"error: {where}{one_line(problem)}; {fix.format(folder=folder)}; {CHECK_STATE}"


def explain(error: BaseException) -> str:
    """The one line a command prints on stderr for ``error``."""
    if isinstance(error, EXPLAINED):
        return f"error: {error}"
    if isinstance(error, OSError):
        return explain_os_error(error)
    return (
        f"error: unexpected {type(error).__name__}: {one_line(str(error))} (a bug, or a state "
        f"no check foresaw); {CHECK_STATE}; run again with {DEBUG_ENV}=1 for the traceback"
    )
