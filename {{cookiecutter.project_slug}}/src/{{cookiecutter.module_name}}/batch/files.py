"""Read CSV or Parquet a chunk at a time and append tables to CSV or Parquet files.

Only the columns the model needs (and the id columns) are read, so memory depends on the
chunk size, not on the width or length of the file. Parquet files are read a batch at a
time within each row group; a single row group far larger than a chunk is the one case
where memory follows the file rather than the chunk size.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from {{ cookiecutter.module_name }}.batch import csv_text
from {{ cookiecutter.module_name }}.config import DataSettings
from {{ cookiecutter.module_name }}.schema import FeatureSchema

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
                if csv_text.is_text_type(schema.field(name).type)
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


class TableWriter:
    """Append DataFrames to a CSV or Parquet file with a schema fixed in advance.

    The fixed schema keeps every chunk's types identical (an id column with gaps in one
    chunk only stays an integer), and an input without rows still gets a header.
    ``fractions`` names columns of numbers from 0 to 1 (probabilities) and their
    decimals: CSV gets them with exactly that many (see csv_text.py); Parquet keeps floats.
    """

    def __init__(
        self,
        path: Path,
        kind: Format,
        schema: pa.Schema,
        fractions: Mapping[str, int] | None = None,
    ) -> None:
        self._schema = schema
        self._fractions = dict(fractions or {})
        self._rows = 0
        self._csv: IO[bytes] | None = None
        self._parquet: pq.ParquetWriter | None = None
        if kind == "csv":
            self._csv = open(path, "wb")  # noqa: SIM115 (closed by close())
            try:
                self._csv.write(_csv_bytes(schema.empty_table(), header=True))
            except BaseException:
                self._csv.close()
                raise
        else:
            # Dictionary pages pay off for the few repeated labels, not for probabilities:
            # trying them on every float column doubled the writing time (measured).
            text = [field.name for field in schema if csv_text.is_text_type(field.type)]
            self._parquet = pq.ParquetWriter(str(path), schema, use_dictionary=text)

    def write(self, frame: pd.DataFrame) -> None:
        """Append the rows of ``frame`` (its columns in schema order)."""
        if not len(frame):
            return
        if self._csv is not None:
            pieces = csv_text.render(frame, self._schema, self._fractions)
            if pieces is None:  # a column type the fast path leaves to Arrow's writer
                pieces = [_csv_bytes(to_table(frame, self._schema), header=False)]
            for piece in pieces:
                self._csv.write(piece)
        else:
            assert self._parquet is not None
            self._parquet.write_table(to_table(frame, self._schema))
        self._rows += len(frame)

    def close(self) -> None:
        """Finish the file; an empty one still has its header (CSV) or schema (Parquet)."""
        if self._csv is not None:
            self._csv.close()
        elif self._parquet is not None:
            if not self._rows:
                self._parquet.write_table(self._schema.empty_table())
            self._parquet.close()

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()  # after an error the file is discarded (atomic_path): nothing to finish


def _csv_bytes(table: pa.Table, *, header: bool) -> bytes | memoryview:
    """``table`` as Arrow's writer writes CSV: text in double quotes, missing values empty."""
    sink = pa.BufferOutputStream()
    options = pa_csv.WriteOptions(include_header=header, quoting_style="needed")
    pa_csv.write_csv(table, sink, write_options=options)
    return memoryview(sink.getvalue())


def to_table(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """``frame`` as an Arrow table of ``schema``, column by column, without threads.

    ``pa.Table.from_pandas`` starts a thread pool per call and turns a categorical column
    into Python strings one row at a time; the predicted labels and the model version
    are categoricals, so taking their codes from the category names is many times faster
    (measured in benchmarks/batch.py).
    """
    columns = []
    for field in schema:
        column = frame[field.name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            names = pa.array(column.cat.categories.astype(str), type=field.type)
            codes = column.cat.codes.to_numpy()
            columns.append(names.take(pa.array(codes, mask=codes < 0)))
        else:
            columns.append(pa.array(column, type=field.type, from_pandas=True))
    return pa.Table.from_arrays(columns, schema=schema)
