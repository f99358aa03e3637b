"""Checksum manifests: write one for a folder, or verify a folder against its own.

Standard library only, on purpose: a copy of this file travels in every bundle as
``verify.py`` and runs before anything is installed, so it cannot rely on the project's
packages. The manifest is ``sha256sum``'s format (``<hex>  <path>``, sorted by path), so
``sha256sum -c MANIFEST.sha256`` checks it too; this script also refuses extra files,
which ``sha256sum`` cannot see.

    python3 verify.py [BUNDLE_FOLDER]    # exit 0 if every file matches, else 1 and why
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

MANIFEST_FILE = "MANIFEST.sha256"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def files_under(folder: Path) -> list[str]:
    """Every entry that is not a folder (symlinks included), as sorted POSIX paths."""
    return sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if not path.is_dir() or path.is_symlink()
    )


def manifest_text(folder: Path) -> str:
    """The manifest of every file in ``folder`` but the manifest itself."""
    names = [name for name in files_under(folder) if name != MANIFEST_FILE]
    return "".join(f"{sha256_of(folder / name)}  {name}\n" for name in names)


def read_manifest(folder: Path) -> dict[str, str]:
    """path -> sha256 as the manifest lists them; ValueError names a malformed line."""
    manifest = folder / MANIFEST_FILE
    if not manifest.is_file():
        raise ValueError(f"{manifest} is missing: this is not a complete bundle")
    listed: dict[str, str] = {}
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        digest, separator, name = line.partition("  ")
        if not separator or len(digest) != 64 or not name or name in listed:
            raise ValueError(f"{manifest} line {number} is malformed: {line[:80]!r}")
        listed[name] = digest
    return listed


def problems(folder: Path) -> list[str]:
    """Why ``folder`` does not match its manifest: one line per file; empty if it does."""
    try:
        listed = read_manifest(folder)
    except ValueError as error:
        return [str(error)]
    present = {name for name in files_under(folder) if name != MANIFEST_FILE}
    found = []
    for name in sorted(set(listed) | present):
        path = folder / name
        if name not in present:
            found.append(f"{name}: missing")
        elif name not in listed:
            found.append(f"{name}: not in the manifest (an extra file)")
        elif path.is_symlink() or sha256_of(path) != listed[name]:
            found.append(f"{name}: changed (its sha256 differs from the manifest's)")
    return found


def main(argv: list[str] | None = None) -> int:
    """Verify a bundle folder (default: the one holding this script); 1 if anything is off."""
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else Path(__file__).resolve().parent
    found = problems(folder)
    if found:
        print(f"REFUSED: {folder} does not match its {MANIFEST_FILE}:", file=sys.stderr)
        for line in found:
            print(f"  {line}", file=sys.stderr)
        print("Nothing was installed. Get the bundle again from its source.", file=sys.stderr)
        return 1
    print(f"{folder}: every file matches {MANIFEST_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
