"""The files of a run: the format each extension names, where refused rows go, and the
checks made before anything is loaded or read. ``BatchError`` is the error a user can act
on (a path, a column, an argument), raised by every module of the batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from {{ cookiecutter.module_name }}.config import Settings

Format = Literal["csv", "parquet"]
FORMATS: dict[str, Format] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class BatchError(ValueError):
    """The run cannot start or go on; the message names the file and what to change."""


def file_format(path: Path) -> Format:
    """The format a file's extension names; BatchError for any other extension."""
    try:
        return FORMATS[Path(path).suffix.lower()]
    except KeyError:
        known = ", ".join(FORMATS)
        raise BatchError(
            f"{path}: unknown extension {Path(path).suffix or '(none)'!r}; use one of {known}"
        ) from None


def default_errors_path(output: Path, settings: Settings) -> Path:
    """Beside the output: ``scores.parquet`` -> ``scores.errors.csv`` (batch.errors_suffix)."""
    return output.with_name(output.name.removesuffix(output.suffix) + settings.batch.errors_suffix)


def check_paths(source: Path, output: Path, errors: Path) -> None:
    """Refuse, before anything is loaded or read, what would fail or overwrite the wrong file."""
    for path in (source, output, errors):
        file_format(path)
    if not source.is_file():
        raise BatchError(f"input file {source} not found")
    if output.resolve() == source.resolve():
        raise BatchError(f"the output {output} is the input file: choose another --output")
    if errors.resolve() in (output.resolve(), source.resolve()):
        raise BatchError(f"the errors file {errors} clashes with the input or the output")
