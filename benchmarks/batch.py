"""Benchmark a baked project's batch scoring: throughput against in-process predict, memory.

    .venv/bin/python benchmarks/batch.py                       # bakes, sets up, trains (+2 min)
    .venv/bin/python benchmarks/batch.py --project build/demo/penguin-classifier

Writes benchmarks/results/batch.json and batch.md. All numbers come from one run.

Throughput, best of ``--repeats``, on ``--rows`` rows: in-process ``pipeline.predict`` on
the rows already read and typed (the model's work alone; the baseline; also shown with one
BLAS thread, an extra row that is not the baseline), ``predict`` +
``predict_proba`` (what gives the batch's outputs), the batch code after start-up
(``score_file``, in the same process as the baseline, runs interleaved; for Parquet also
with the scikit-learn runtime forced instead of the ONNX copy), and the command
end to end (``python -m <module>.batch``, a fresh process: imports, loading and
verifying the model, reading, validating, predicting, writing). Rates are per second of
wall time and per second of CPU time (user + system), which moves much less with the load
of other jobs on a shared machine.

Memory: peak RSS of the command's process (``os.wait4``) scoring files of 1x and 10x the
chunk size, then the 10x file as one single chunk: that last run shows what the measure
sees when memory does grow with the file.

``--engines`` measures the engines instead (``make setup-dask`` first): the same command
with the local engine and with ``--engine dask --workers 1`` and ``2`` (a LocalCluster
started by the command, its start included), on the same files, interleaved, best of
``--repeats``; the scaling is the ratio of the 2-worker to the 1-worker rate, all from one
run. Writes results/batch_engines.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parent
RESULTS = HERE / "results"
WORKER = HERE / "batch_worker.py"
TIMEOUT = 900  # seconds, for any single step


def child_env() -> dict[str, str]:
    """The environment of a user's shell: bytecode caches on, no outer virtualenv."""
    drop = {"PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV", "PYTHONPATH"}
    return {key: value for key, value in os.environ.items() if key not in drop}


def run(command: list[str], cwd: Path) -> str:
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, env=child_env()
    )
    if result.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def bake_project(parent: Path) -> Path:
    """A default project, set up and trained with its own Makefile, as a user would."""
    from cookiecutter.main import cookiecutter  # only needed when no --project is given

    project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(parent)))
    run(["git", "init", "--quiet"], project)
    run(["make", "setup"], project)
    run(["make", "train"], project)
    return project


def module_of(project: Path) -> str:
    packages = [path.parent.name for path in (project / "src").glob("*/__init__.py")]
    if len(packages) != 1:
        sys.exit(f"{project}/src should hold exactly one package, found {packages}")
    return packages[0]


def timed_process(command: list[str], cwd: Path) -> dict[str, float]:
    """Wall seconds, CPU seconds and peak resident memory (MiB) of one child process."""
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=child_env(), stdout=log, stderr=log)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage, not a sum
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            log.seek(0)
            sys.exit(f"{' '.join(command)} failed:\n{log.read().decode()[-3000:]}")
    return {
        "wall": seconds,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mib": usage.ru_maxrss / 1024,  # Linux reports KiB
    }


def remove_outputs(folder: Path, stem: str) -> None:
    """Delete a previous run's outputs, every ``stem.*`` in ``folder`` (the output and its
    errors file, in any format), before the clock starts: freeing a replaced 58 MB output
    cost the kernel 35-50 ms at the final rename, which is not scoring (measured by hand:
    an A/B of eight pairs, fresh path against replaced)."""
    for path in folder.glob(f"{stem}.*"):
        path.unlink()


class Cli:
    """The project's batch command, run in a fresh process each time."""

    def __init__(self, project: Path, module: str, chunk_size: int) -> None:
        self.project, self.module, self.chunk_size = project, module, chunk_size
        self.python = str(project / ".venv/bin/python")

    def score(
        self, source: Path, output: Path, chunk_size: int = 0, workers: int = 0
    ) -> dict[str, float]:
        """Resources used by ``batch SOURCE --output OUTPUT`` (on Dask with ``workers``)."""
        command = [self.python, "-m", f"{self.module}.batch", str(source), "--output", str(output)]
        if workers:
            command += ["--engine", "dask", "--workers", str(workers)]
        else:
            command += ["--chunk-size", str(chunk_size or self.chunk_size)]
        return timed_process(command, self.project)

    def best(self, source: Path, output: Path, repeats: int) -> dict[str, float]:
        runs = []
        for _ in range(repeats):
            remove_outputs(output.parent, output.name.split(".")[0])  # a new file each run
            runs.append(self.score(source, output))
        return {key: min(run[key] for run in runs) for key in ("wall", "cpu")}


ENGINES = {"local": 0, "dask_1_worker": 1, "dask_2_workers": 2}


def result_header(
    rows: int, chunk: int, repeats: int, files: Any, load_at_start: float, **machine: Any
) -> dict[str, Any]:
    """What each result file opens with: the run's size and the machine it ran on (with
    ``machine``'s extra facts), the load at the end beside the load at the start."""
    return {
        "rows": rows,
        "chunk_size": chunk,
        "repeats": repeats,
        "files": files,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1min_start": load_at_start,
            "load_average_1min": round(os.getloadavg()[0], 1),
            "python": platform.python_version(),
            **machine,
        },
    }


def measure_engines(
    project: Path, work: Path, rows: int, chunk: int, repeats: int
) -> dict[str, Any]:
    """The command on each engine, interleaved, best wall time of ``repeats`` (one run).

    The wall clock is the one that counts here (the workers are other processes: the
    command's own CPU time leaves theirs out)."""
    module = module_of(project)
    load_at_start = round(os.getloadavg()[0], 1)
    worker = [str(project / ".venv/bin/python"), str(WORKER), module]
    files = json.loads(run([*worker, "data", str(work), str(rows), str(chunk)], project))
    cli = Cli(project, module, chunk)
    cli.score(work / "startup.csv", work / "warmup.csv")  # writes the bytecode caches once
    walls: dict[str, dict[str, list[float]]] = {
        kind: {engine: [] for engine in ENGINES} for kind in ("csv", "parquet")
    }
    for _ in range(repeats):
        for kind in walls:
            for engine, workers in ENGINES.items():
                output = work / f"out-{engine}.{kind}"
                remove_outputs(work, output.name.split(".")[0])
                used = cli.score(work / f"throughput.{kind}", output, workers=workers)
                walls[kind][engine].append(used["wall"])
    best = {
        kind: {engine: min(times) for engine, times in by.items()} for kind, by in walls.items()
    }
    return {
        **result_header(rows, chunk, repeats, files, load_at_start),
        "wall_seconds": {
            kind: {e: round(t, 2) for e, t in by.items()} for kind, by in best.items()
        },
        "all_wall_seconds": walls,
        "rows_per_s": {
            kind: {e: round(rows / t) for e, t in by.items()} for kind, by in best.items()
        },
        "scaling_2_vs_1_worker": {
            kind: round(by["dask_1_worker"] / by["dask_2_workers"], 2) for kind, by in best.items()
        },
        "dask_2_workers_vs_local": {
            kind: round(by["local"] / by["dask_2_workers"], 2) for kind, by in best.items()
        },
    }


def engines_markdown(result: dict[str, Any]) -> str:
    """The report committed as benchmarks/results/batch_engines.md."""
    machine, rates = result["machine"], result["rows_per_s"]
    scaling, versus = result["scaling_2_vs_1_worker"], result["dask_2_workers_vs_local"]
    lines = [
        "# Batch scoring engines: local and Dask",
        "",
        f"**Dask with 2 workers scores {scaling['parquet']:.2f}x as fast as with 1 worker from "
        f"Parquet and {scaling['csv']:.2f}x from CSV, and runs at {versus['parquet']:.2f}x "
        f"(Parquet) and {versus['csv']:.2f}x (CSV) the local engine's speed.** This machine "
        f"has only {machine['cpus']} CPUs, shared with other jobs running at the same time "
        f"(load average {machine['load_average_1min_start']} at the start, "
        f"{machine['load_average_1min']} at the end), so 2 workers cannot get 2 free cores; "
        "read these as a floor, and measure on your own cluster.",
        "",
        f"`{result['command']}`: the batch command end to end (a fresh process: imports, "
        "loading and verifying the model, for Dask starting a LocalCluster of worker "
        "processes that each load the model, reading, scoring, writing one file), "
        f"{result['rows']:,} rows, best wall time of {result['repeats']} interleaved runs, all "
        f"from one run, Python {machine['python']}.",
        "",
        "| Engine | CSV -> CSV rows/s | Parquet -> Parquet rows/s |",
        "|---|---:|---:|",
    ]
    for engine, label in (
        ("local", "Local (chunks in one process)"),
        ("dask_1_worker", "Dask, 1 worker process"),
        ("dask_2_workers", "Dask, 2 worker processes"),
    ):
        lines.append(f"| {label} | {rates['csv'][engine]:,} | {rates['parquet'][engine]:,} |")
    lines += [
        "",
        "The Dask runs pay for starting the cluster and loading the model in each worker "
        "(seconds), and the driver writes every row itself, in order; the local engine "
        "overlaps reading, scoring and writing in one process. Dask pays off when the "
        "workers are on other machines or the input does not fit one machine's disk.",
        "",
    ]
    return "\n".join(lines)


def measure(project: Path, work: Path, rows: int, chunk: int, repeats: int) -> dict[str, Any]:
    """Every number of the report, from one run."""
    module = module_of(project)
    load_at_start = round(os.getloadavg()[0], 1)
    worker = [str(project / ".venv/bin/python"), str(WORKER), module]
    files = json.loads(run([*worker, "data", str(work), str(rows), str(chunk)], project))
    cli = Cli(project, module, chunk)
    cli.score(work / "startup.csv", work / "warmup.csv")  # writes the bytecode caches once
    startup = cli.best(work / "startup.csv", work / "warmup.csv", repeats)["wall"]
    inside = json.loads(run([*worker, "throughput", str(work), str(chunk), str(repeats)], project))
    commands = {
        kind: cli.best(work / f"throughput.{kind}", work / f"out.{kind}", repeats)
        for kind in ("csv", "parquet")
    }
    peaks = {
        name: cli.score(work / f"memory_{size}.csv", work / "m.csv", chunk_size)["peak_mib"]
        for name, size, chunk_size in (
            ("file_1x_chunk", "1x", chunk),
            ("file_10x_chunk", "10x", chunk),
            ("file_10x_as_one_chunk", "10x", 10 * chunk),
        )
    }
    jobs = {
        "predict_in_process": "predict",
        "predict_one_blas_thread_in_process": "predict_one_blas_thread",
        "predict_and_proba_in_process": "predict_and_proba",
        "batch_csv_in_process": "score_file_csv",
        "batch_parquet_in_process": "score_file_parquet",
        "batch_parquet_sklearn_in_process": "score_file_parquet_sklearn",
    }
    seconds = {
        clock: {
            **{name: inside[key][job] for name, job in jobs.items()},
            **{f"batch_{kind}_command": used[clock] for kind, used in commands.items()},
        }
        for clock, key in (("wall", "seconds"), ("cpu", "cpu_seconds"))
    }
    return {
        **result_header(
            rows,
            chunk,
            repeats,
            files,
            load_at_start,
            model=inside["model"],
            runtime=inside["runtime"],
            libraries=inside["libraries"],
        ),
        "rows_per_s": {
            clock: {name: round(rows / value) for name, value in values.items()}
            for clock, values in seconds.items()
        },
        "median_wall_vs_predict": {
            name: round(inside["median_seconds"]["predict"] / inside["median_seconds"][job], 2)
            for name, job in jobs.items()
        },
        "memory_mib": {name: round(peak, 1) for name, peak in peaks.items()},
        "startup_seconds": round(startup, 2),
    }


THROUGHPUT_ROWS = [
    ("In-process `pipeline.predict` (rows already read and typed)", "predict_in_process"),
    (
        "In-process `pipeline.predict`, one BLAS thread (extra row, not the baseline)",
        "predict_one_blas_thread_in_process",
    ),
    ("In-process `predict` + `predict_proba` (the batch outputs)", "predict_and_proba_in_process"),
    ("Batch after start-up (`score_file`), CSV -> CSV", "batch_csv_in_process"),
    ("Batch after start-up (`score_file`), Parquet -> Parquet", "batch_parquet_in_process"),
    (
        "Batch after start-up, Parquet -> Parquet, scikit-learn runtime forced",
        "batch_parquet_sklearn_in_process",
    ),
    ("Batch command end to end, CSV -> CSV", "batch_csv_command"),
    ("Batch command end to end, Parquet -> Parquet", "batch_parquet_command"),
]


def markdown(result: dict[str, Any]) -> str:
    """The report committed as benchmarks/results/batch.md."""
    machine, memory = result["machine"], result["memory_mib"]
    wall, cpu = result["rows_per_s"]["wall"], result["rows_per_s"]["cpu"]
    libraries = ", ".join(f"{name} {version}" for name, version in machine["libraries"].items())
    chunk = result["chunk_size"]
    lines = [
        "# Batch scoring benchmark",
        "",
        f"`{result['command']}`: {machine['cpus']} CPUs shared with other jobs (load average "
        f"{machine['load_average_1min_start']} at the start, {machine['load_average_1min']} "
        f"at the end), Python {machine['python']}, {libraries}; "
        f"model {machine['model']} (the template's default), batch runtime "
        f"{machine['runtime']} (`inference.runtime: auto`). {result['rows']:,} rows "
        "resampled from the project's raw data (gaps included), chunk size "
        f"{chunk:,}, best of {result['repeats']}, all from one run.",
        "",
        "## Throughput",
        "",
        "Rows per second of wall time, and per second of CPU time (the process's own user + "
        "system time: on a shared machine it moves much less with the other jobs' load).",
        "",
        "| What | Rows/s wall | vs `predict` | Rows/CPU-s | vs `predict` | "
        "vs `predict` + `predict_proba` |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, name in THROUGHPUT_ROWS:
        versus_wall = wall[name] / wall["predict_in_process"]
        versus_cpu = cpu[name] / cpu["predict_in_process"]
        versus_proba = cpu[name] / cpu["predict_and_proba_in_process"]
        lines.append(
            f"| {label} | {wall[name]:,} | {versus_wall:.2f} | {cpu[name]:,} | "
            f"{versus_cpu:.2f} | {versus_proba:.2f} |"
        )
    medians = result["median_wall_vs_predict"]
    lines += [
        "",
        f"Compared by the median of the {result['repeats']} interleaved repeats instead of "
        "the best (wall): CSV -> CSV "
        f"{medians['batch_csv_in_process']:.2f}, Parquet -> Parquet "
        f"{medians['batch_parquet_in_process']:.2f} of `predict`.",
        "",
        "Every run writes its output to a path that does not exist yet: the previous "
        "repeat's output is deleted before the clock starts, since freeing a replaced "
        "output (58 MB of CSV) is the kernel's work at the final rename, not scoring.",
        "",
        "End to end is a fresh process: imports, loading and verifying the model, reading, "
        "validating, predicting labels and probabilities, writing. Its start-up alone (the "
        f"same command on a one-row file) takes {result['startup_seconds']} s, so it weighs "
        "less the larger the file.",
        "",
        "## Peak memory of the command (RSS)",
        "",
        "| Input | Peak MiB | vs 1x |",
        "|---|---:|---:|",
    ]
    memory_rows = [
        (f"1x the chunk size ({chunk:,} rows)", "file_1x_chunk"),
        (f"10x the chunk size ({10 * chunk:,} rows)", "file_10x_chunk"),
        (f"10x read as one chunk (`--chunk-size {10 * chunk}`)", "file_10x_as_one_chunk"),
    ]
    for label, name in memory_rows:
        lines.append(f"| {label} | {memory[name]} | {memory[name] / memory['file_1x_chunk']:.2f} |")
    lines += [
        "",
        "The last row is the same file without chunking: it shows that the measure sees "
        "memory growth when there is some.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, help="a baked, set-up and trained project")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=100_000, help="params.yaml's default")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--engines", action="store_true", help="local against Dask 1 and 2 workers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as scratch:
        project = args.project.resolve() if args.project else bake_project(Path(scratch))
        work = Path(scratch) / "files"
        work.mkdir()
        if args.engines:
            run(["make", "setup-dask"], project)
            result = measure_engines(project, work, args.rows, args.chunk_size, args.repeats)
        else:
            result = measure(project, work, args.rows, args.chunk_size, args.repeats)
    options = {"rows": args.rows, "chunk-size": args.chunk_size, "repeats": args.repeats}
    result["command"] = (
        "python benchmarks/batch.py"
        + "".join(f" --{name} {value}" for name, value in options.items())
        + (" --engines" if args.engines else "")
    )
    if args.engines:
        args.results.mkdir(parents=True, exist_ok=True)
        text = json.dumps(result, indent=2) + "\n"
        (args.results / "batch_engines.json").write_text(text, encoding="utf-8")
        (args.results / "batch_engines.md").write_text(engines_markdown(result), encoding="utf-8")
        print(engines_markdown(result))
        return
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "batch.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (args.results / "batch.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


if __name__ == "__main__":
    main()
