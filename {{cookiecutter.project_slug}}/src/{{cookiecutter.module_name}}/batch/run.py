"""Score a large CSV or Parquet file in chunks, with memory that does not grow with the file.

``python -m {{ cookiecutter.module_name }}.batch INPUT --output OUTPUT`` reads INPUT
``batch.chunk_size`` rows at a time, checks every row against the model's schema with the
API's rules, scores the valid rows and appends them to OUTPUT: ``row`` (1 is the first data
row), the ``batch.id_columns``, ``prediction``, one ``probability_<class>`` per class and
``model_version``. A row that cannot be scored goes to the errors file (``row``, the id
columns, ``error``) instead of stopping the run; when no row is refused there is no errors
file. Both files are written under temporary names and renamed when the run succeeds, so a
failed run never leaves a partial output.

Exit codes of the command: 0 the run finished (the summary says in words whether rows were
refused: a refused row is news, not a crash); 1 nothing was written (missing input, unknown
extension, no model, missing columns, unreadable file); 2 wrong arguments. With ``--check``
(``make score-check``, for cron and CI) also 3: the run finished but some rows are in the
errors file.

The modules it drives: ``readers`` and ``writers`` for the files, ``chunks`` for the
checks and scoring of one chunk (``score_chunk``, the seam a distributed engine calls per
partition), ``pipelining`` to overlap the three.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from {{ cookiecutter.module_name }}.batch.chunks import (
    CheckedChunk,
    ScoredChunk,
    check_chunk,
    predict_checked,
)
from {{ cookiecutter.module_name }}.batch.paths import (
    BatchError,
    check_paths,
    default_errors_path,
    file_format,
)
from {{ cookiecutter.module_name }}.batch.pipelining import (
    WriteBehind,
    read_ahead,
)
from {{ cookiecutter.module_name }}.batch.predictions import probability_columns
from {{ cookiecutter.module_name }}.batch.readers import (
    ChunkReader,
    open_reader,
)
from {{ cookiecutter.module_name }}.batch.tables import (
    errors_schema,
    output_schema,
)
from {{ cookiecutter.module_name }}.batch.writers import TableWriter
from {{ cookiecutter.module_name }}.config import (
    Settings,
    load_settings,
)
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel
from {{ cookiecutter.module_name }}.prediction.store import load_served_model
from {{ cookiecutter.module_name }}.storage import atomic_path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ROWS_REJECTED = 3


@dataclass(frozen=True)
class BatchSummary:
    """What a run did; ``exit_code`` tells a scheduler whether rows were refused."""

    rows: int
    scored: int
    output: Path
    errors: Path
    model_version: str

    @property
    def rejected(self) -> int:
        """Rows written to the errors file."""
        return self.rows - self.scored

    @property
    def exit_code(self) -> int:
        """For ``--check``: 0 when every row was scored, EXIT_ROWS_REJECTED when some were not."""
        return EXIT_ROWS_REJECTED if self.rejected else EXIT_OK

    def describe(self) -> str:
        """One line for the person who started the run: the verdict, then the numbers."""
        line = f"scored {self.scored} of {self.rows} rows with model {self.model_version} into {self.output}"
        if self.rejected:
            rows = "1 row" if self.rejected == 1 else f"{self.rejected} rows"
            return (
                f"Done, but {rows} could not be scored: {line}; the refused rows and the "
                f"reasons are in {self.errors}"
            )
        return f"Done, every row scored: {line}; no row was refused, so there is no errors file"


def load_scoring_model(settings: Settings) -> LoadedModel:
    """Load and verify the model exactly as the prediction server does (the prod version)."""
    return load_served_model(settings)


def score_file(
    model: LoadedModel,
    source: Path,
    output: Path,
    settings: Settings,
    *,
    errors: Path | None = None,
    id_columns: Sequence[str] | None = None,
    progress: bool | None = None,
) -> BatchSummary:
    """Score ``source`` chunk by chunk into ``output`` and the errors file, atomically.

    The errors file exists only when some row was refused: a run that scores every row
    removes it, so a file beside the output always describes that output.

    ``progress=None`` shows a progress bar on stderr only when it is a terminal.
    """
    source, output = Path(source), Path(output)
    errors = Path(errors) if errors else default_errors_path(output, settings)
    ids = tuple(settings.batch.id_columns if id_columns is None else id_columns)
    check_paths(source, output, errors)
    check_id_columns(ids, model)
    reader = open_reader(source, model.schema, ids, settings.batch.chunk_size, settings.data)
    rows = scored = 0
    with (
        # A chunk's matrices are small: two BLAS threads spend longer waiting on each other
        # than computing (measured: about a third less CPU with one). Scale out with
        # processes or partitions instead.
        threadpool_limits(limits=1, user_api="blas"),
        reader,
        atomic_path(output) as output_temporary,
        atomic_path(errors) as errors_temporary,
        TableWriter(
            output_temporary,
            file_format(output),
            output_schema(model, reader.id_types),
        ) as predictions,
        TableWriter(
            errors_temporary, file_format(errors), errors_schema(reader.id_types)
        ) as refused,
        _progress_bar(reader, progress) as bar,
        # Reading and checking, predicting, and writing overlap, one chunk apart (see
        # pipelining.py): the checks' Python work runs while the model runs outside the
        # interpreter lock. The chunks are closed before the reader, and writes end
        # before the writers close.
        closing(read_ahead(_checked(model, reader, ids))) as chunks,
        WriteBehind() as writes,
    ):
        for checked in chunks:
            result = predict_checked(model, checked)
            writes.submit(partial(_write, result, predictions, refused))
            rows += len(checked.errors) + len(checked.rows)
            scored += len(result.predictions)
            bar.update(reader.position() - bar.n)
    summary = BatchSummary(rows, scored, output, errors, model.version)
    if not summary.rejected:  # no empty errors file, nor one left by an earlier run
        errors.unlink(missing_ok=True)
    return summary


def _checked(
    model: LoadedModel, chunks: Iterable[pd.DataFrame], ids: Sequence[str]
) -> Iterator[CheckedChunk]:
    """Check each chunk, numbering rows across chunks from 1."""
    first_row = 1
    for chunk in chunks:
        yield check_chunk(model, chunk, first_row, ids)
        first_row += len(chunk)


def _write(result: ScoredChunk, predictions: TableWriter, refused: TableWriter) -> None:
    predictions.write(result.predictions)
    refused.write(result.errors)


def check_id_columns(ids: Sequence[str], model: LoadedModel) -> None:
    taken = {"row", "prediction", "model_version", "error"}
    taken |= set(probability_columns(model))
    clashes = sorted(taken.intersection(ids))
    if clashes:
        raise BatchError(f"id column(s) {clashes} would clash with the output's own columns")


def _progress_bar(reader: ChunkReader, enabled: bool | None) -> tqdm:
    return tqdm(
        total=reader.total,
        unit=reader.unit,
        unit_scale=True,
        desc="scoring",
        file=sys.stderr,
        disable=None if enabled is None else not enabled,
        leave=False,
    )


def run_batch(
    source: str,
    output: str,
    errors: str | None = None,
    chunk_size: int | None = None,
    id_columns: Sequence[str] | None = None,
    check: bool = False,
) -> int:
    """The ``batch`` command: load settings and the model, score, print one summary line;
    exit 0 once the run finished, unless ``check`` asks for EXIT_ROWS_REJECTED on refusals."""
    settings = load_settings()
    if chunk_size is not None:
        if chunk_size < 1:
            raise BatchError(f"--chunk-size must be at least 1, got {chunk_size}")
        batch = settings.batch.model_copy(update={"chunk_size": chunk_size})
        settings = settings.model_copy(update={"batch": batch})
    errors_path = Path(errors) if errors else default_errors_path(Path(output), settings)
    check_paths(Path(source), Path(output), errors_path)  # before the model's slow load
    summary = score_file(
        load_scoring_model(settings),
        Path(source),
        Path(output),
        settings,
        errors=errors_path,
        id_columns=id_columns,
    )
    print(summary.describe())
    return summary.exit_code if check else EXIT_OK
