"""Read CSV or Parquet a chunk at a time, only the columns the model (and the ids) need.

Memory depends on the chunk size, not on the width or length of the file. Parquet files
are read a batch at a time within each row group; a single row group far larger than a
chunk is the one case where memory follows the file rather than the chunk size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from {{ cookiecutter.module_name }}.batch.paths import (
    BatchError,
    file_format,
)
from {{ cookiecutter.module_name }}.batch.tables import is_text_type
from {{ cookiecutter.module_name }}.config import DataSettings
from {{ cookiecutter.module_name }}.schema import FeatureSchema


class ChunkReader:
    """Iterate over DataFrames of at most ``chunk_size`` rows; a context manager."""

    unit = "rows"
    total: int | None = None
    id_types: dict[str, pa.DataType]

    def __iter__(self) -> Iterator[pd.DataFrame]:
        raise NotImplementedError

    def position(self) -> int:
        """How far the reading has gone, in ``unit`` (for the progress bar)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the file."""

    def __enter__(self) -> ChunkReader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def open_reader(
    source: Path,
    schema: FeatureSchema,
    id_columns: Sequence[str],
    chunk_size: int,
    options: DataSettings,
) -> ChunkReader:
    """A reader of the model's feature columns and the id columns; checks they all exist."""
    wanted = [*schema.features, *(name for name in id_columns if name not in schema.features)]
    if file_format(source) == "csv":
        return CsvChunks(source, schema, wanted, id_columns, chunk_size, options)
    return ParquetChunks(source, schema, wanted, id_columns, chunk_size)


def _check_columns(source: Path, present: Sequence[str], wanted: Sequence[str]) -> None:
    missing = [name for name in wanted if name not in present]
    if missing:
        shown = list(present[:20]) + (["..."] if len(present) > 20 else [])
        raise BatchError(
            f"{source} lacks the column(s) {missing} that the model (or --id-column) needs; "
            f"it has {shown}"
        )


class CsvChunks(ChunkReader):
    """A CSV read with the raw data's separator and missing-value markers (params.yaml data)."""

    unit = "B"

    def __init__(
        self,
        source: Path,
        schema: FeatureSchema,
        wanted: list[str],
        id_columns: Sequence[str],
        chunk_size: int,
        options: DataSettings,
    ) -> None:
        read = {"sep": options.separator, "na_values": list(options.na_values)}
        try:
            header = list(pd.read_csv(source, nrows=0, **read).columns)
        except pd.errors.EmptyDataError:
            raise BatchError(
                f"{source} is empty: expected a header line naming the columns"
            ) from None
        except (pd.errors.ParserError, UnicodeDecodeError) as error:
            raise BatchError(f"cannot read {source} as CSV: {error}") from None
        _check_columns(source, header, wanted)
        # Text stays text ("007" keeps its zeros); numbers are checked row by row later.
        # Categorical features are read as categories: each distinct label becomes one
        # Python string, not one per row, and is checked once (FeatureSchema.row_problems).
        text: dict[str, Any] = dict.fromkeys(schema.categorical, "category")
        text.update(dict.fromkeys(id_columns, object))
        self.id_types = dict.fromkeys(id_columns, pa.string())
        self.total = Path(source).stat().st_size
        self._source = source
        self._handle: IO[bytes] = open(source, "rb")  # noqa: SIM115 (closed by close())
        self._chunks = pd.read_csv(
            self._handle, usecols=wanted, dtype=text, chunksize=chunk_size, **read
        )

    def __iter__(self) -> Iterator[pd.DataFrame]:
        try:
            yield from self._chunks
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
            raise BatchError(f"cannot read {self._source} as CSV: {error}") from None

    def position(self) -> int:
        return self._handle.tell()

    def close(self) -> None:
        self._chunks.close()
        self._handle.close()


class ParquetChunks(ChunkReader):
    """A Parquet file read batch by batch, only the wanted columns."""

    def __init__(
        self,
        source: Path,
        features: FeatureSchema,
        wanted: list[str],
        id_columns: Sequence[str],
        chunk_size: int,
    ) -> None:
        try:
            metadata = pq.read_metadata(source)  # the footer, read once for both uses
            schema = metadata.schema.to_arrow_schema()
            _check_columns(source, schema.names, wanted)
            # Text features come as dictionaries (pandas categories): Parquet usually
            # stores them so, and each distinct label is then converted and checked once.
            text = [
                name
                for name in features.categorical
                if is_text_type(schema.field(name).type)
                and name not in id_columns  # ids keep their own type in the output
            ]
            self._file = pq.ParquetFile(source, metadata=metadata, read_dictionary=text)
        except (pa.ArrowException, OSError) as error:
            raise BatchError(f"cannot read {source} as Parquet: {error}") from None
        self.id_types = {name: schema.field(name).type for name in id_columns}
        self.total = self._file.metadata.num_rows
        self._source, self._wanted, self._chunk_size = source, wanted, chunk_size
        self._rows = 0

    def __iter__(self) -> Iterator[pd.DataFrame]:
        batches = self._file.iter_batches(batch_size=self._chunk_size, columns=self._wanted)
        try:
            for batch in batches:
                self._rows += batch.num_rows
                yield batch.to_pandas()
        except (pa.ArrowException, OSError) as error:
            raise BatchError(f"cannot read {self._source} as Parquet: {error}") from None

    def position(self) -> int:
        return self._rows

    def close(self) -> None:
        self._file.close()
