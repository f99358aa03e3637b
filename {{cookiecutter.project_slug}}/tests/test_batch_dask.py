"""The Dask engine gives the local engine's files, row for row, on two worker processes.

Skipped unless Dask is installed (``make setup-dask``). Rows come from the configured raw
data with a few values made invalid, so these tests hold for any dataset.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("distributed", reason="the Dask engine is optional: make setup-dask")
pytestmark = pytest.mark.slow  # starts a cluster of worker processes

from distributed import Client, LocalCluster  # noqa: E402

from {{ cookiecutter.module_name }}.batch import workers  # noqa: E402
from {{ cookiecutter.module_name }}.batch.__main__ import main  # noqa: E402
from {{ cookiecutter.module_name }}.batch.dask_engine import score_with_dask  # noqa: E402
from {{ cookiecutter.module_name }}.batch.paths import BatchError  # noqa: E402
from {{ cookiecutter.module_name }}.batch.run import (  # noqa: E402
    EXIT_FAILED,
    EXIT_ROWS_REJECTED,
    load_scoring_model,
    score_file,
)
from {{ cookiecutter.module_name }}.config import (  # noqa: E402
    ENV_PREFIX,
    Settings,
)
from {{ cookiecutter.module_name }}.prediction.loader import ModelLoadError  # noqa: E402

ID = "record_id"
TEXT = {ID: str, "model_version": str}


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A local cluster of two worker processes (one thread each), shared by the module."""
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as local:
        yield local.scheduler_address


@pytest.fixture(scope="module")
def rows(trained: Settings) -> pd.DataFrame:
    """The raw data four times over, as text, with an id and three invalid values."""
    frame = pd.read_csv(
        trained.paths.raw_data,
        sep=trained.data.separator,
        na_values=list(trained.data.na_values),
        dtype=str,
    )
    frame = pd.concat([frame] * 4, ignore_index=True)
    frame.insert(0, ID, [f"id-{index:05d}" for index in range(len(frame))])
    numeric = trained.feature_schema.numeric[0]
    for position, value in ((3, "oops"), (len(frame) // 2, "inf"), (len(frame) - 1, "1e999x")):
        frame.loc[position, numeric] = value
    return frame


@pytest.fixture
def scoring(trained: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The trained model for the command line too (an empty registry: the last trained model)."""
    monkeypatch.setenv(f"{ENV_PREFIX}__PATHS__MODEL", str(trained.paths.model))
    monkeypatch.setenv(f"{ENV_PREFIX}__PATHS__METADATA", str(trained.paths.metadata))
    monkeypatch.setenv(f"{ENV_PREFIX}__PATHS__REGISTRY", str(trained.paths.registry))
    return trained


def local(settings: Settings, source: Path, output: Path) -> None:
    score_file(load_scoring_model(settings), source, output, settings, id_columns=[ID])


def test_csv_in_several_partitions_gives_the_local_files_byte_for_byte(
    scoring: Settings, rows: pd.DataFrame, cluster: str, tmp_path: Path
) -> None:
    source = tmp_path / "rows.csv"
    rows.to_csv(source, index=False)
    local(scoring, source, tmp_path / "local.csv")
    summary = score_with_dask(
        str(source),
        tmp_path / "dask.csv",
        scoring,
        id_columns=[ID],
        scheduler=cluster,
        blocksize=source.stat().st_size // 5,  # five partitions, rows numbered across them
    )
    assert summary.rejected == 3
    assert summary.rows == len(rows)
    for name in ("{}.csv", "{}.errors.csv"):
        dask_file = tmp_path / name.format("dask")
        assert dask_file.read_bytes() == (tmp_path / name.format("local")).read_bytes()
    errors = pd.read_csv(tmp_path / "dask.errors.csv", dtype=TEXT)
    assert errors["row"].tolist() == [4, len(rows) // 2 + 1, len(rows)]
    assert errors[ID].tolist() == [f"id-{r - 1:05d}" for r in errors["row"]]


def test_a_folder_of_parquet_files_gives_a_dataset_equal_to_the_local_output(
    scoring: Settings, rows: pd.DataFrame, cluster: str, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    table = pa.Table.from_pandas(rows.drop(index=[3]).reset_index(drop=True), preserve_index=False)
    half = table.num_rows // 2
    # Two files, several row groups each: partitions of different lengths.
    pq.write_table(table.slice(0, half), folder / "a.parquet", row_group_size=97)
    pq.write_table(table.slice(half), folder / "b.parquet", row_group_size=250)
    pq.write_table(table, tmp_path / "all.parquet")
    local(scoring, tmp_path / "all.parquet", tmp_path / "local.parquet")
    for source, output in ((folder, "dataset"), (f"{folder}/*.parquet", "globbed")):
        summary = score_with_dask(
            str(source), tmp_path / output, scoring, id_columns=[ID], scheduler=cluster
        )
        assert summary.rows == table.num_rows
        dataset = pd.read_parquet(tmp_path / output)
        pd.testing.assert_frame_equal(dataset, pd.read_parquet(tmp_path / "local.parquet"))
        assert (tmp_path / f"{output}.errors.csv").read_bytes() == (
            tmp_path / "local.errors.csv"
        ).read_bytes()
    assert len(list((tmp_path / "dataset").iterdir())) > 2


def test_each_worker_process_loads_the_model_once(
    scoring: Settings, rows: pd.DataFrame, cluster: str, tmp_path: Path
) -> None:
    source = tmp_path / "rows.csv"
    rows.to_csv(source, index=False)
    score_with_dask(
        str(source),
        tmp_path / "out.parquet",
        scoring,
        scheduler=cluster,
        blocksize=source.stat().st_size // 8,
    )
    with Client(cluster) as client:
        loaded = client.run(lambda: [id(model) for model in workers._loaded.values()])
    assert len(loaded) == 2
    assert all(len(models) == 1 for models in loaded.values()), loaded


def test_a_worker_refuses_a_model_that_changed_since_the_run_started(
    scoring: Settings,
) -> None:
    ref = workers.model_ref(load_scoring_model(scoring), scoring)
    other = type(ref)(**{**ref.__dict__, "sha256": "0" * 64})
    with pytest.raises(ModelLoadError, match="not the one the run started with"):
        other.load()


def test_command_line_scores_on_a_cluster_into_a_dataset_folder(
    scoring: Settings,
    rows: pd.DataFrame,
    cluster: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """(``--workers N`` starts a local cluster instead: the template's tests run it.)"""
    source = tmp_path / "rows.csv"
    rows.to_csv(source, index=False)
    output = tmp_path / "scores"
    arguments = [str(source), "-o", str(output), "--engine", "dask", "--scheduler", cluster]
    assert main([*arguments, "--check"]) == EXIT_ROWS_REJECTED  # make score-check
    assert f"scored {len(rows) - 3} of {len(rows)} rows" in capsys.readouterr().out
    assert len(pd.read_parquet(output)) == len(rows) - 3
    assert len(pd.read_csv(tmp_path / "scores.errors.csv")) == 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["missing/*.csv", "-o", "out.csv", "--engine", "dask"], "no input file at missing/*.csv"),
        (["rows.csv", "-o", "out.csv", "--workers", "2"], "need --engine dask"),
        (
            ["rows.csv", "-o", "o.csv", "--engine", "dask", "--workers", "1", "--scheduler", "x"],
            "not both",
        ),
    ],
)
def test_command_line_user_errors_are_one_line(
    scoring: Settings,
    rows: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    assert main(arguments) == EXIT_FAILED
    error = capsys.readouterr().err
    assert message in error
    assert len(error.strip().splitlines()) == 1


def test_mixed_formats_are_refused(scoring: Settings, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x\n1\n", encoding="utf-8")
    pq.write_table(pa.table({"x": [1]}), tmp_path / "b.parquet")
    with pytest.raises(BatchError, match="mixes CSV and Parquet"):
        score_with_dask(str(tmp_path), tmp_path / "out", scoring)
