"""Scale-out engines in the set-up project: `make setup-dask`/`setup-spark`, then Dask
through `make score` and the project's own Dask and Spark tests (LocalCluster, local[2],
the documented spark-submit line). After test_end_to_end.py, whose `make test` must not
pay for these engines twice."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from helpers import run

pytestmark = pytest.mark.slow


def make_score(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("VIRTUAL_ENV")}
    return subprocess.run(
        ["make", "score", *arguments],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def test_dask_and_spark_score_as_the_local_engine_does(project: Path, tmp_path: Path) -> None:
    run(["make", "setup-dask", "setup-spark"], project)
    lines = (project / "data/raw/penguins.csv").read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:] * 3
    bad = rows[7].split(",")
    bad[header.split(",").index("bill_length_mm")] = "forty"
    rows[7] = ",".join(bad)
    source = tmp_path / "rows.csv"
    source.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")

    local = make_score(project, f"INPUT={source}", f"OUTPUT={tmp_path / 'local.csv'}")
    on_dask = make_score(
        project, f"INPUT={source}", f"OUTPUT={tmp_path / 'dask.csv'}", "ENGINE=dask", "WORKERS=2"
    )
    for result in (local, on_dask):
        assert result.returncode == 0, result.stderr  # by hand: a verdict in words
        assert "Done, but 1 row could not be scored: " in result.stdout, result.stdout
        assert f"scored {len(rows) - 1} of {len(rows)} rows" in result.stdout, result.stdout
    for name in ("{}.csv", "{}.errors.csv"):
        assert (tmp_path / name.format("dask")).read_bytes() == (
            tmp_path / name.format("local")
        ).read_bytes()

    tests = ["tests/test_batch_dask.py", "tests/test_batch_spark.py"]
    result = run([".venv/bin/pytest", "-q", "-p", "no:cacheprovider", "-rs", *tests], project)
    assert " passed" in result.stdout
    assert "skipped" not in result.stdout, result.stdout
