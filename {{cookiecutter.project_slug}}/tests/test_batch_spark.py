"""The Spark adapter gives the local engine's rows, row numbers and errors on ``local[2]``.

Skipped unless PySpark is installed (``make setup-spark``); skipped too without a Java
runtime, except in CI (``CI`` set), where a missing Java fails the run. Rows come from the
configured raw data with a few values made invalid, so these tests hold for any dataset.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("pyspark", reason="the Spark engine is optional: make setup-spark")
pytestmark = [
    pytest.mark.slow,  # starts a JVM
    # PySpark 4.3 warns that it does not fully support pandas 3; these tests are the proof
    # that what this adapter uses works (docs/scaling.md says so).
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
]

from pandas._libs.parsers import STR_NA_VALUES  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402

from {{ cookiecutter.module_name }}.batch import spark_engine  # noqa: E402
from {{ cookiecutter.module_name }}.batch.run import (  # noqa: E402
    load_scoring_model,
    score_file,
)
from {{ cookiecutter.module_name }}.batch.workers import model_ref  # noqa: E402
from {{ cookiecutter.module_name }}.config import Settings  # noqa: E402
from {{ cookiecutter.module_name }}.packaging.bundle import build_bundle  # noqa: E402
from {{ cookiecutter.module_name }}.packaging.wheelhouse import this_machine  # noqa: E402
from {{ cookiecutter.module_name }}.prediction.store import (  # noqa: E402
    ModelStore,
    Pointer,
)
from {{ cookiecutter.module_name }}.registry import publish  # noqa: E402
from {{ cookiecutter.module_name }}.storage import read_json  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
ID = "record_id"
JOB = Path(spark_engine.__file__).resolve()  # the spark-submit job: this very file


def java_or_skip() -> None:
    """Skip without a Java runtime, with the reason; in CI, fail instead."""
    if shutil.which("java") or os.environ.get("JAVA_HOME"):
        return
    reason = "Spark needs a Java runtime (17 or newer): no java on PATH and no JAVA_HOME"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must install one (apt-get install openjdk-17-jre-headless)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    """``local[2]`` with small partitions and batches: rows numbered across many of both."""
    java_or_skip()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers run this interpreter
    session = (
        SparkSession.builder.master("local[2]")
        .config("spark.sql.files.maxPartitionBytes", "16k")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def rows(trained: Settings) -> pd.DataFrame:
    """The raw data four times over, as text, with an id, three invalid values and a gap."""
    frame = pd.read_csv(trained.paths.raw_data, sep=trained.data.separator, dtype=str)
    frame = pd.concat([frame] * 4, ignore_index=True)
    frame.insert(0, ID, [f"id-{index:05d}" for index in range(len(frame))])
    numeric = trained.feature_schema.numeric[0]
    for position, value in ((3, "oops"), (len(frame) // 2, "inf"), (len(frame) - 1, "n/a")):
        frame.loc[position, numeric] = value
    return frame


def scored_by_spark(
    spark: SparkSession, settings: Settings, source: Path, folder: Path
) -> tuple[pd.DataFrame, pd.DataFrame]:
    model = load_scoring_model(settings)
    frame, missing = spark_engine.read_input(spark, str(source), settings)
    assert frame.rdd.getNumPartitions() > 1
    predictions, errors = spark_engine.score_spark_frame(
        frame, model, model_ref(model, settings), [ID], missing
    )
    predictions.write.parquet(str(folder / "predictions"))
    errors.write.parquet(str(folder / "errors"))
    return pd.read_parquet(folder / "predictions"), pd.read_parquet(folder / "errors")


def scored_locally(
    settings: Settings, source: Path, folder: Path
) -> tuple[pd.DataFrame, pd.DataFrame]:
    model = load_scoring_model(settings)
    output = folder / "local.parquet"
    score_file(
        model, source, output, settings, errors=folder / "local-errors.parquet", id_columns=[ID]
    )
    return pd.read_parquet(output), pd.read_parquet(folder / "local-errors.parquet")


def test_pandas_missing_markers_are_those_spark_must_blank() -> None:
    assert spark_engine.PANDAS_NA_MARKERS == STR_NA_VALUES


def test_csv_gives_the_local_rows_numbers_and_errors(
    spark: SparkSession, trained: Settings, rows: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "rows.csv"
    rows.to_csv(source, index=False)
    predictions, errors = scored_by_spark(spark, trained, source, tmp_path)
    local_predictions, local_errors = scored_locally(trained, source, tmp_path)
    pd.testing.assert_frame_equal(predictions, local_predictions)
    pd.testing.assert_frame_equal(errors, local_errors)
    assert errors["row"].tolist() == [4, len(rows) // 2 + 1]  # "n/a" is missing: imputed
    assert predictions["row"].tolist() == [
        r for r in range(1, len(rows) + 1) if r not in (4, len(rows) // 2 + 1)
    ]


def test_parquet_gives_the_local_rows_numbers_and_errors(
    spark: SparkSession, trained: Settings, rows: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "rows.parquet"
    typed = rows.drop(index=[3]).reset_index(drop=True)
    pq.write_table(pa.Table.from_pandas(typed, preserve_index=False), source, row_group_size=200)
    predictions, errors = scored_by_spark(spark, trained, source, tmp_path)
    local_predictions, local_errors = scored_locally(trained, source, tmp_path)
    pd.testing.assert_frame_equal(predictions, local_predictions)
    pd.testing.assert_frame_equal(errors, local_errors)


def no_wheels(lock: Path, folder: Path, target: object) -> list[Path]:
    """Stands in for the bundle's wheel download (no network in tests)."""
    folder.mkdir(parents=True, exist_ok=True)
    return []


def test_the_documented_spark_submit_line_ships_the_wheel_and_the_model(
    trained: Settings, rows: pd.DataFrame, tmp_path: Path
) -> None:
    """docs/scaling.md's line, with the bundle of `make package` (built here in a temp folder)."""
    java_or_skip()
    settings = trained.with_paths(registry=tmp_path / "registry", bundles=tmp_path / "dist")
    store = ModelStore(settings.paths.registry)
    publish.export_version(
        store,
        "v1.0.0",
        trained.paths.model,
        {**read_json(trained.paths.metadata), "version": "v1.0.0"},
    )
    publish.write_pointer(store, Pointer("v1.0.0"))
    # spark-submit ships the serving wheel and the model; the dependencies' wheels are the
    # executors' business (they run the project's environment), so none is downloaded here.
    bundle = build_bundle(settings, this_machine(), download=no_wheels).path
    name = bundle.name.removesuffix(".tar.gz")
    with tarfile.open(bundle) as tar:  # tar -xzf dist/NAME.tar.gz -C dist
        tar.extractall(bundle.parent, filter="data")
    (wheel,) = (bundle.parent / name).glob("*.whl")
    source = tmp_path / "rows.csv"
    rows.to_csv(source, index=False)
    command = [
        str(Path(sys.executable).with_name("spark-submit")),
        "--master",
        "local[2]",
        "--py-files",
        str(wheel),
        "--archives",
        f"{bundle}#bundle",
        str(JOB.relative_to(PROJECT)),
        str(source),
        "--output",
        str(tmp_path / "scores"),
        "--id-column",
        ID,
        "--bundle",
        str(bundle.parent / name),
    ]
    environment = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    result = subprocess.run(
        command,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=600,
    )
    assert result.returncode == 3, result.stdout + result.stderr[-3000:]
    assert f"scored {len(rows) - 2} of {len(rows)} rows with model v1.0.0" in result.stdout
    assert len(pd.read_parquet(tmp_path / "scores")) == len(rows) - 2
    assert len(pd.read_parquet(tmp_path / "scores.errors")) == 2


def test_an_executor_finds_the_store_in_the_shipped_bundle(
    trained: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the driver's path does not exist, the store inside ``./bundle`` serves."""
    model = load_scoring_model(trained)
    shipped = tmp_path / "bundle" / "project-v1" / "models" / "registry"
    shipped.mkdir(parents=True)
    ref = model_ref(model, trained)
    moved = type(ref)(
        **{**ref.__dict__, "registry": "/nowhere/registry", "shipped": "project-v1/models/registry"}
    )
    monkeypatch.chdir(tmp_path)
    assert spark_engine._located(moved).registry == str(
        Path.cwd() / "bundle" / "project-v1/models/registry"
    )
