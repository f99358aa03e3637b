"""What a distributed run reads and writes: a file, a folder of files or a glob in; one
file or a Parquet dataset folder out. Shared by the Dask and Spark engines; imports
neither, so the local engine never loads them.
"""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from {{ cookiecutter.module_name }}.batch.paths import (
    FORMATS,
    BatchError,
    Format,
    file_format,
)
from {{ cookiecutter.module_name }}.storage import new_path_beside

# A Parquet dataset folder holds one file per partition, named in the rows' order.
PART_NAME = "part-{:05d}.parquet"


def source_files(source: str) -> tuple[list[Path], Format]:
    """The files ``source`` names (a file, a folder of them, or a glob), sorted, and their
    one format; the rows are numbered through the files in this order."""
    path = Path(source)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(child for child in path.iterdir() if child.suffix.lower() in FORMATS)
    else:
        files = sorted(Path(name) for name in glob.glob(source) if Path(name).is_file())
    if not files:
        raise BatchError(
            f"no input file at {source}: give a .csv or .parquet file, a folder of them, "
            "or a glob such as 'data/*.csv' (quoted)"
        )
    formats = {file_format(file) for file in files}
    if len(formats) > 1:
        raise BatchError(f"{source} mixes CSV and Parquet files: score each format on its own")
    return files, formats.pop()


def is_dataset(output: Path) -> bool:
    """An output without a file extension is a Parquet dataset folder (one file a partition)."""
    return output.suffix == "" or output.is_dir()


def check_outputs(files: list[Path], output: Path, errors: Path) -> None:
    """Refuse outputs that would overwrite an input, each other, or a file with a folder."""
    if not is_dataset(output):
        file_format(output)
    elif output.is_file():
        raise BatchError(
            f"{output} is a file: a dataset output is a folder; remove it or add .parquet"
        )
    file_format(errors)
    inputs = {file.resolve() for file in files}
    if output.resolve() in inputs or errors.resolve() in inputs:
        raise BatchError(f"the output {output} or errors file {errors} is an input file")
    if errors.resolve() == output.resolve():
        raise BatchError(f"the errors file {errors} is the output")


@contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Yield a new folder beside ``target``; on success it replaces ``target`` (the old one
    is moved aside first, then deleted), so readers never see a half-written dataset."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = new_path_beside(target, folder=True)
    try:
        yield temporary
        if target.is_dir():
            old = new_path_beside(target, folder=True)
            os.replace(target, old / target.name)
            os.replace(temporary, target)
            shutil.rmtree(old)
        else:
            os.replace(temporary, target)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary)
