"""Scale-out engines in the set-up project: `make setup-dask`/`setup-spark`, then Dask
through `make score` and the project's own Dask and Spark tests (LocalCluster, local[2],
the documented spark-submit line). After test_end_to_end.py, whose `make test` must not
pay for these engines twice.

PyPI has PySpark only as a source archive (~450 MB, mostly jars) that uv downloads and
builds into a wheel. uv asks the index again whether its cached copy is still current, and
where the answer is "changed" (a proxy that ignores the question) it downloads and builds it
anew each time: a minute, and half a gigabyte more in uv's cache. So the setups try uv's
cache first (UV_OFFLINE), then the index, and `make setup-spark` runs while `make score`
scores on both engines.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import run

pytestmark = pytest.mark.slow


def outside_any_virtualenv() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("VIRTUAL_ENV")}


def make(project: Path, *arguments: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`make ARGUMENTS` in the project (with ``env`` added), whatever its exit code."""
    return subprocess.run(
        ["make", *arguments],
        cwd=project,
        capture_output=True,
        text=True,
        env=outside_any_virtualenv() | env,
        timeout=900,
        check=False,
    )


# Spark's JVMs (the session's and spark-submit's) live for seconds: the quick JIT tier alone
# and the serial collector spare the two cores some CPU, same results (measured once, at a
# load of 12: the Spark tests took 35 CPU-seconds instead of 40).
SHORT_LIVED_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def project_tests(project: Path, *test_files: str) -> None:
    """Run some of the project's test files; every test must run (none skipped) and pass."""
    pytest_ = [".venv/bin/pytest", "-q", "-p", "no:cacheprovider", "-rs"]
    env = outside_any_virtualenv() | {"JAVA_TOOL_OPTIONS": SHORT_LIVED_JVM}
    result = run([*pytest_, *test_files], project, env=env)
    assert " passed" in result.stdout
    assert "skipped" not in result.stdout, result.stdout


def make_setup(project: Path, target: str) -> None:
    """`make <target>` from uv's cache alone if it holds the locked files, else with the index."""
    for env in ({"UV_OFFLINE": "1"}, {}):
        result = make(project, target, **env)
        if result.returncode == 0:
            return
    raise AssertionError(f"make {target} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")


def test_dask_and_spark_score_as_the_local_engine_does(project: Path, tmp_path: Path) -> None:
    make_setup(project, "setup-dask")
    # The two locks pin the same packages; setup-spark only adds pyspark and py4j.
    with ThreadPoolExecutor(max_workers=1) as background:
        spark_setup = background.submit(make_setup, project, "setup-spark")
        make_score_on_dask_gives_the_local_files(project, tmp_path)
        spark_setup.result()
    # One run for both (the project's tests train a model once per run).
    project_tests(project, "tests/test_batch_dask.py", "tests/test_batch_spark.py")


def make_score_on_dask_gives_the_local_files(project: Path, tmp_path: Path) -> None:
    """`make score ENGINE=dask WORKERS=2` (a LocalCluster the command starts) writes the
    bytes the local engine writes, refused rows included."""
    lines = (project / "data/raw/penguins.csv").read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:] * 3
    bad = rows[7].split(",")
    bad[header.split(",").index("bill_length_mm")] = "forty"
    rows[7] = ",".join(bad)
    source = tmp_path / "rows.csv"
    source.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")

    local = make(project, "score", f"INPUT={source}", f"OUTPUT={tmp_path / 'local.csv'}")
    on_dask = make(
        project,
        "score",
        f"INPUT={source}",
        f"OUTPUT={tmp_path / 'dask.csv'}",
        "ENGINE=dask",
        "WORKERS=2",
    )
    for result in (local, on_dask):
        assert result.returncode == 0, result.stderr  # by hand: a verdict in words
        assert "Done, but 1 row could not be scored: " in result.stdout, result.stdout
        assert f"scored {len(rows) - 1} of {len(rows)} rows" in result.stdout, result.stdout
    for name in ("{}.csv", "{}.errors.csv"):
        assert (tmp_path / name.format("dask")).read_bytes() == (
            tmp_path / name.format("local")
        ).read_bytes()
