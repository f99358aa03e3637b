"""Score files on a Dask cluster: ``make score ENGINE=dask [WORKERS=n | SCHEDULER=...]``.

Each partition (a block of a CSV file, a row group of a Parquet file) is read, checked and
scored on a worker, which loads and verifies the model once (``workers.py``: the model
itself cannot be pickled, a ``ModelRef`` can). The driver collects the results in the
input's order, a few partitions ahead of the writing, numbers the rows across partitions
and writes one file, or a Parquet dataset folder (one file a partition), and the refused
rows to the errors file: the same output as the local engine, row for row.

Only this module imports Dask: ``python -m ... batch --engine dask`` loads it on demand,
so the local engine and the server run without Dask installed (``make setup-dask``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import pandas as pd
import pyarrow.parquet as pq
from distributed import Client, LocalCluster
from threadpoolctl import threadpool_limits

from {{ cookiecutter.module_name }}.batch.chunks import ScoredChunk
from {{ cookiecutter.module_name }}.batch.inputs import (
    PART_NAME,
    atomic_folder,
    check_outputs,
    is_dataset,
    source_files,
)
from {{ cookiecutter.module_name }}.batch.paths import (
    Format,
    default_errors_path,
    file_format,
)
from {{ cookiecutter.module_name }}.batch.readers import open_reader
from {{ cookiecutter.module_name }}.batch.run import (
    BatchSummary,
    check_id_columns,
    load_scoring_model,
)
from {{ cookiecutter.module_name }}.batch.tables import (
    errors_schema,
    is_text_type,
    output_schema,
)
from {{ cookiecutter.module_name }}.batch.workers import (
    ModelRef,
    model_ref,
    score_partition,
    shift_rows,
)
from {{ cookiecutter.module_name }}.batch.writers import TableWriter
from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel
from {{ cookiecutter.module_name }}.storage import atomic_path

# CSV bytes per partition: big enough that a task's overhead (a few ms) is noise, small
# enough that a file of a few hundred MB gives every worker several partitions.
DEFAULT_BLOCKSIZE = 16 * 2**20
# Partitions computed ahead of the one being written, per worker: keeps every worker busy
# while the driver holds only a few partitions' results.
AHEAD_PER_WORKER = 2


def score_with_dask(
    source: str,
    output: Path,
    settings: Settings,
    *,
    errors: Path | None = None,
    id_columns: Sequence[str] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    blocksize: int = DEFAULT_BLOCKSIZE,
) -> BatchSummary:
    """Score ``source`` (a file, a folder or a glob) on Dask into ``output`` and the errors file.

    Without ``scheduler`` a ``LocalCluster`` of ``workers`` processes (default: one per
    core) runs for this call only; with it, the cluster at that address is used, and its
    workers must read the inputs and the model store at the same paths (a shared folder).
    """
    output = Path(output)
    errors = Path(errors) if errors else default_errors_path(output, settings)
    ids = tuple(settings.batch.id_columns if id_columns is None else id_columns)
    files, kind = source_files(source)
    check_outputs(files, output, errors)
    model = load_scoring_model(settings)
    check_id_columns(ids, model)
    id_types = {}
    for file in files:  # every file has the columns, before any worker starts
        with open_reader(
            file, model.schema, ids, settings.batch.chunk_size, settings.data
        ) as reader:
            id_types = id_types or reader.id_types
    partitions = _partitions(files, kind, model, ids, settings, blocksize)
    ref = model_ref(model, settings)
    tasks = [dask.delayed(_score, pure=False)(part, ref, ids) for part in partitions]
    with _client(workers, scheduler) as client:
        results = _in_order(client, tasks, AHEAD_PER_WORKER * _worker_count(client))
        rows, scored = _write(results, model, id_types, output, errors)
    summary = BatchSummary(rows, scored, output, errors, model.version)
    if not summary.rejected:
        errors.unlink(missing_ok=True)
    return summary


def _score(frame: pd.DataFrame, ref: ModelRef, ids: Sequence[str]) -> ScoredChunk:
    """The task: one partition checked and scored on a worker (rows numbered from 1)."""
    with threadpool_limits(limits=1, user_api="blas"):  # as locally: processes, not threads
        return score_partition(frame, ref, ids)


def _partitions(
    files: list[Path],
    kind: Format,
    model: LoadedModel,
    ids: Sequence[str],
    settings: Settings,
    blocksize: int,
) -> list[Any]:
    """One delayed DataFrame per partition, in the input's order, typed as locally."""
    schema = model.schema
    wanted = [*schema.features, *(name for name in ids if name not in schema.features)]
    if kind == "parquet":
        return [
            dask.delayed(_read_row_group)(str(file), group, wanted, schema.categorical, ids)
            for file in files
            for group in range(pq.ParquetFile(file).metadata.num_row_groups)
        ]
    # Numeric columns are read as text: a partition must keep the types Dask saw in the
    # first one, and one bad value makes a column text. check_chunk types them per value.
    frame = dd.read_csv(
        [str(file) for file in files],
        blocksize=blocksize,
        sep=settings.data.separator,
        na_values=list(settings.data.na_values),
        usecols=wanted,
        dtype={
            name: "category" if name in schema.categorical and name not in ids else object
            for name in wanted
        },
    )
    return frame.to_delayed()


def _read_row_group(
    file: str, group: int, wanted: list[str], categorical: Sequence[str], ids: Sequence[str]
) -> pd.DataFrame:
    """One row group, its text features as categories, exactly as the local reader reads it."""
    parquet = pq.ParquetFile(file)
    schema = parquet.schema_arrow
    text = [
        name for name in categorical if is_text_type(schema.field(name).type) and name not in ids
    ]
    with pq.ParquetFile(file, read_dictionary=text) as reader:
        return reader.read_row_group(group, columns=wanted).to_pandas()


@contextmanager
def _client(workers: int | None, scheduler: str | None) -> Iterator[Client]:
    """A client of the cluster at ``scheduler``, or of a local cluster of worker processes."""
    with ExitStack() as stack:
        if scheduler:
            client = stack.enter_context(Client(scheduler))
        else:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # any free port: never a clash
                )
            )
            client = stack.enter_context(Client(cluster))
        yield client


def _worker_count(client: Client) -> int:
    return max(1, len(client.scheduler_info().get("workers", {})))


def _in_order(client: Client, tasks: list[Any], ahead: int) -> Iterator[ScoredChunk]:
    """The tasks' results in order, at most ``ahead`` computing or waiting at a time."""
    pending: deque[Any] = deque()
    remaining = iter(tasks)
    for task in remaining:
        pending.append(client.compute(task))
        if len(pending) >= ahead:
            break
    while pending:
        result = pending.popleft().result()
        for task in remaining:
            pending.append(client.compute(task))
            break
        yield result


def _write(
    results: Iterator[ScoredChunk],
    model: LoadedModel,
    id_types: dict[str, Any],
    output: Path,
    errors: Path,
) -> tuple[int, int]:
    """Number the rows across partitions and write them; return (rows, scored)."""
    rows = scored = 0
    predictions_schema = output_schema(model, id_types)
    with ExitStack() as stack:
        refused = stack.enter_context(
            TableWriter(
                stack.enter_context(atomic_path(errors)),
                file_format(errors),
                errors_schema(id_types),
            )
        )
        if is_dataset(output):
            folder = stack.enter_context(atomic_folder(output))
            single = None
        else:
            single = stack.enter_context(
                TableWriter(
                    stack.enter_context(atomic_path(output)),
                    file_format(output),
                    predictions_schema,
                )
            )
        for part, result in enumerate(results):
            result = shift_rows(result, rows)
            if single is not None:
                single.write(result.predictions)
            else:
                with TableWriter(
                    folder / PART_NAME.format(part), "parquet", predictions_schema
                ) as writer:
                    writer.write(result.predictions)
            refused.write(result.errors)
            rows += len(result.predictions) + len(result.errors)
            scored += len(result.predictions)
    return rows, scored
