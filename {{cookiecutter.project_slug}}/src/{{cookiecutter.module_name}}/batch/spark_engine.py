"""Score a Spark DataFrame with ``mapInPandas``: the local engine's rows, numbers and errors.

``score_spark_frame`` is the adapter: each Spark partition's pandas batches are checked
and scored on the executors (``workers.py``: the model is loaded and verified once per
Python worker), their rows numbered across the whole input from the partitions' lengths,
counted first. It returns two DataFrames, the predictions and the refused rows, with the
local engine's columns. Run as a script, this file is the ``spark-submit`` job (see
docs/scaling.md)::

    spark-submit --master 'local[2]' --py-files WHEEL --archives BUNDLE.tar.gz#bundle \\
        src/{{ cookiecutter.module_name }}/batch/spark_engine.py INPUT --output scores --bundle dist/NAME

It reads a CSV (every column as text, then typed per batch as pandas types a chunk) or
Parquet file or folder, and writes Parquet dataset folders. Only this module imports
pyspark, and nothing imports it: the other engines run without Spark installed.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
from pyspark import SparkFiles, TaskContext
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from {{ cookiecutter.module_name }}.batch.paths import (
    BatchError,
    file_format,
)
from {{ cookiecutter.module_name }}.batch.run import (
    check_id_columns,
    load_scoring_model,
)
from {{ cookiecutter.module_name }}.batch.tables import (
    errors_schema,
    output_schema,
)
from {{ cookiecutter.module_name }}.batch.workers import (
    ModelRef,
    model_ref,
    score_partition,
    shift_rows,
)
from {{ cookiecutter.module_name }}.config import (
    PARAMS_FILE,
    Settings,
    load_settings,
)
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel

# pandas' own missing-value markers (read_csv's default na_values): Spark reads them as
# text, the local engine as missing. tests/test_batch_spark.py checks the list against pandas.
PANDAS_NA_MARKERS = frozenset(
    {
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
        "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
    }
)  # fmt: skip
# The name a shipped bundle is unpacked under on the executors (--archives BUNDLE#bundle).
ARCHIVE_ALIAS = "bundle"
ERROR = "error"


def score_spark_frame(
    frame: DataFrame,
    model: LoadedModel,
    ref: ModelRef,
    id_columns: Sequence[str] = (),
    missing: Collection[str] = (),
) -> tuple[DataFrame, DataFrame]:
    """The predictions and the refused rows of ``frame``, as the local engine gives them.

    ``frame`` holds the raw columns, in the input's order (as Spark reads one file). For a
    CSV read as text, ``missing`` lists the strings that mean a missing value, as pandas
    reads them (``read_input`` gives both); a typed input (Parquet) has none.
    Rows are numbered from 1 across the partitions, whose lengths are counted first (one
    more pass over the input). The scored rows are cached until both results are written.
    """
    ids = tuple(id_columns)
    check_id_columns(ids, model)
    lengths = dict(frame.groupBy(F.spark_partition_id()).count().collect())
    offsets, total = {}, 0
    for partition in range(frame.rdd.getNumPartitions()):
        offsets[partition] = total
        total += lengths.get(partition, 0)
    id_types = {name: _arrow_type(frame, name) for name in ids}
    predictions = output_schema(model, id_types)
    combined = pa.schema([*predictions, pa.field(ERROR, pa.string())])
    missing = frozenset(missing)

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        here = _located(ref)
        first = offsets[TaskContext.get().partitionId()]
        for batch in batches:
            result = shift_rows(score_partition(_with_missing(batch, missing), here, ids), first)
            first += len(batch)
            yield _one_frame(result.predictions, result.errors, combined.names)

    scored = frame.mapInPandas(score, from_arrow_schema(combined)).cache()
    return (
        scored.where(F.col(ERROR).isNull()).select(*predictions.names),
        scored.where(F.col(ERROR).isNotNull()).select(*errors_schema(id_types).names),
    )


def _arrow_type(frame: DataFrame, name: str) -> pa.DataType:
    from pyspark.sql.pandas.types import to_arrow_type

    if name not in frame.columns:
        raise BatchError(f"the data lacks the id column {name!r}")
    return to_arrow_type(frame.schema[name].dataType)


def _with_missing(batch: pd.DataFrame, markers: frozenset[str]) -> pd.DataFrame:
    """Text columns as object columns, the ``markers`` made missing, as read_csv does."""
    text = [name for name in batch.columns if pd.api.types.is_string_dtype(batch[name].dtype)]
    # As object columns, as pandas reads text it was told not to convert.
    return batch.assign(
        **{name: batch[name].astype(object).mask(batch[name].isin(markers)) for name in text}
    )


def _one_frame(predictions: pd.DataFrame, errors: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Both results in one frame (mapInPandas returns one): ``error`` is empty for scored rows."""
    scored = predictions.astype({"prediction": object, "model_version": object})
    return pd.concat([scored.assign(**{ERROR: None}), errors], ignore_index=True).reindex(
        columns=columns
    )


def _located(ref: ModelRef) -> ModelRef:
    """``ref`` with its store found on this executor: the driver's path where it exists (one
    machine, a shared folder), else inside the bundle shipped with ``--archives ...#bundle``."""
    if ref.registry is None or Path(ref.registry).exists() or not ref.shipped:
        return ref
    for base in (Path.cwd(), Path(SparkFiles.getRootDirectory())):
        candidate = base / ARCHIVE_ALIAS / ref.shipped
        if candidate.exists():
            return dataclasses.replace(ref, registry=str(candidate))
    return ref  # the load names the missing store


def read_input(
    spark: SparkSession, source: str, settings: Settings
) -> tuple[DataFrame, frozenset[str]]:
    """A ``.csv`` file (every column as text, quotes as pandas reads them) or Parquet (a
    file or a folder); with the strings that mean missing (none for Parquet)."""
    if Path(source).suffix and file_format(Path(source)) == "csv":
        missing = PANDAS_NA_MARKERS | set(settings.data.na_values)
        text = spark.read.csv(
            source, header=True, sep=settings.data.separator, escape='"', inferSchema=False
        )
        return text, missing
    return spark.read.parquet(source), frozenset()


def main(argv: list[str] | None = None) -> int:
    """The spark-submit job: score INPUT into Parquet dataset folders; exit 3 if rows were refused."""
    args = _parser().parse_args(argv)
    params = Path(args.bundle) / PARAMS_FILE if args.bundle else None
    settings = load_settings(params)
    model = load_scoring_model(settings)
    ref = model_ref(model, settings)
    if args.bundle:
        root = settings.root.resolve()
        shipped = Path(root.name) / Path(str(ref.registry)).resolve().relative_to(root)
        ref = dataclasses.replace(ref, shipped=str(shipped))
    ids = tuple(settings.batch.id_columns if args.id_columns is None else args.id_columns)
    spark = SparkSession.builder.appName("score").getOrCreate()
    try:
        frame, missing = read_input(spark, args.input, settings)
        predictions, refused = score_spark_frame(frame, model, ref, ids, missing)
        predictions.write.mode("overwrite").parquet(args.output)
        errors = args.errors or f"{args.output}.errors"
        refused.write.mode("overwrite").parquet(errors)
        rows, scored = frame.count(), predictions.count()
    finally:
        spark.stop()
    line = f"scored {scored} of {rows} rows with model {model.version} into {args.output}"
    if rows > scored:
        print(f"{line}; {rows - scored} rows could not be scored, reasons in {errors}")
    else:
        print(f"{line}; no row was refused ({errors} holds no rows)")
    return 3 if rows > scored else 0


def _parser() -> argparse.ArgumentParser:
    job = argparse.ArgumentParser(prog="spark_engine.py", description=main.__doc__)
    job.add_argument("input", help="a .csv or .parquet file, or a folder of Parquet files")
    job.add_argument(
        "-o", "--output", required=True, help="the predictions' Parquet dataset folder"
    )
    job.add_argument("--errors", help="the refused rows' Parquet folder (default: OUTPUT.errors)")
    job.add_argument("--id-column", dest="id_columns", action="append", help="input column to copy")
    job.add_argument("--bundle", help="the unpacked `make package` bundle whose model to use")
    return job


if __name__ == "__main__":
    sys.exit(main())
