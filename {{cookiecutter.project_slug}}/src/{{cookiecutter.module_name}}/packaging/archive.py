"""Deterministic tarballs: the same folder content always gives the same bytes.

Members are sorted; times, owners and modes are fixed (the modes to 0644, or 0755 for
folders and the named executables); the gzip header carries no file name and a fixed
time. So a release's sha256 depends on its content alone, not on when or by whom it was
built, and building it twice proves nothing changed.
"""

from __future__ import annotations

import gzip
import tarfile
from collections.abc import Collection
from pathlib import Path

from {{ cookiecutter.module_name }}.storage import (
    atomic_path,
    sha256_file,
)


def write_tarball(
    folder: Path, target: Path, epoch: int, executables: Collection[str] = ()
) -> None:
    """Write ``folder`` (as its top-level entry) to ``target``, a .tar.gz, atomically."""
    paths = [folder, *sorted(folder.rglob("*"), key=lambda path: path.relative_to(folder).parts)]
    with (
        atomic_path(target) as temporary,
        open(temporary, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=epoch) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in paths:
            member = tar.gettarinfo(path, arcname=path.relative_to(folder.parent).as_posix())
            member.mtime = epoch
            member.uid = member.gid = 0
            member.uname = member.gname = ""
            executable = member.isdir() or path.name in executables
            member.mode = 0o755 if executable else 0o644
            if member.isfile():
                with open(path, "rb") as stream:
                    tar.addfile(member, stream)
            else:
                tar.addfile(member)


def write_checksum(target: Path) -> str:
    """Write ``<target>.sha256`` in ``sha256sum -c`` format; return the digest."""
    digest = sha256_file(target)
    with atomic_path(target.with_name(f"{target.name}.sha256")) as temporary:
        temporary.write_text(f"{digest}  {target.name}\n", encoding="utf-8")
    return digest
