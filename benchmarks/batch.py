"""Benchmark a baked project's batch scoring: throughput against in-process predict, memory.

    .venv/bin/python benchmarks/batch.py                       # bakes, sets up, trains (+2 min)
    .venv/bin/python benchmarks/batch.py --project build/demo/penguin-classifier

Writes benchmarks/results/batch.json and batch.md. All numbers come from one run.

Throughput: the command line (``python -m <module>.prediction batch``: a fresh process that
imports, loads and verifies the model, reads, validates, predicts labels and probabilities
and writes) on ``--rows`` rows, against ``pipeline.predict`` called in-process on the same
rows, already loaded and typed (the model's work alone). Start-up is timed on a one-row
file; steady state is rows / (time - start-up). Best of ``--repeats``.

Memory: peak RSS of the command's process (``os.wait4``) scoring files of 1x and 10x the
chunk size, then the 10x file as one single chunk: that last run shows what the measure
sees when memory does grow with the file.
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


def timed_process(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MiB) of one child process."""
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=child_env(), stdout=log, stderr=log)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage, not a sum
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            log.seek(0)
            sys.exit(f"{' '.join(command)} failed:\n{log.read().decode()[-3000:]}")
    return seconds, usage.ru_maxrss / 1024  # Linux reports KiB


class Cli:
    """The project's batch command, run in a fresh process each time."""

    def __init__(self, project: Path, module: str, chunk_size: int) -> None:
        self.project, self.module, self.chunk_size = project, module, chunk_size
        self.python = str(project / ".venv/bin/python")

    def score(self, source: Path, output: Path, chunk_size: int = 0) -> tuple[float, float]:
        """Seconds and peak MiB of ``batch SOURCE --output OUTPUT``."""
        command = [self.python, "-m", f"{self.module}.prediction", "batch", str(source)]
        command += ["--output", str(output), "--chunk-size", str(chunk_size or self.chunk_size)]
        return timed_process(command, self.project)

    def best(self, source: Path, output: Path, repeats: int) -> float:
        return min(self.score(source, output)[0] for _ in range(repeats))


def measure(project: Path, work: Path, rows: int, chunk: int, repeats: int) -> dict[str, Any]:
    """Every number of the report, from one run."""
    module = module_of(project)
    worker = [str(project / ".venv/bin/python"), str(WORKER), module]
    files = json.loads(run([*worker, "data", str(work), str(rows), str(chunk)], project))
    cli = Cli(project, module, chunk)
    cli.score(work / "startup.csv", work / "warmup.csv")  # writes the bytecode caches once
    inside = json.loads(run([*worker, "throughput", str(work), str(chunk), str(repeats)], project))
    seconds = inside["seconds"]
    commands = {
        kind: cli.best(work / f"throughput.{kind}", work / f"out.{kind}", repeats)
        for kind in ("csv", "parquet")
    }
    one, ten = (cli.score(work / f"memory_{size}.csv", work / "m.csv")[1] for size in ("1x", "10x"))
    whole = cli.score(work / "memory_10x.csv", work / "m.csv", chunk_size=10 * chunk)[1]

    def rate(elapsed: float) -> int:
        return round(rows / elapsed)

    return {
        "rows": rows,
        "chunk_size": chunk,
        "repeats": repeats,
        "files": files,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "model": inside["model"],
            "libraries": inside["libraries"],
        },
        "rows_per_s": {
            "predict_in_process": rate(seconds["predict"]),
            "predict_and_proba_in_process": rate(seconds["predict_and_proba"]),
            **{
                f"batch_{kind}_in_process": rate(seconds[f"score_file_{kind}"]) for kind in commands
            },
            **{f"batch_{kind}_command": rate(elapsed) for kind, elapsed in commands.items()},
        },
        "command_seconds": {kind: round(elapsed, 3) for kind, elapsed in commands.items()},
        "memory_mib": {
            "file_1x_chunk": round(one, 1),
            "file_10x_chunk": round(ten, 1),
            "file_10x_as_one_chunk": round(whole, 1),
        },
    }


def ratio(result: dict[str, Any], name: str, baseline: str = "predict_in_process") -> float:
    return result["rows_per_s"][name] / result["rows_per_s"][baseline]


def markdown(result: dict[str, Any]) -> str:
    """The report committed as benchmarks/results/batch.md."""
    machine, rates, memory = result["machine"], result["rows_per_s"], result["memory_mib"]
    libraries = ", ".join(f"{name} {version}" for name, version in machine["libraries"].items())
    chunk = result["chunk_size"]
    lines = [
        "# Batch scoring benchmark",
        "",
        f"`{result['command']}`: {machine['cpus']} CPUs, Python {machine['python']}, "
        f"{libraries}; model {machine['model']} (the template's default). "
        f"{result['rows']:,} rows resampled from the project's raw data (gaps included), "
        f"chunk size {chunk:,}, best of {result['repeats']}, all from one run.",
        "",
        "## Throughput",
        "",
        "| What | Rows/s | vs `predict` | vs `predict` + `predict_proba` |",
        "|---|---:|---:|---:|",
    ]
    rows = [
        ("In-process `pipeline.predict` (rows already read and typed)", "predict_in_process"),
        (
            "In-process `predict` + `predict_proba` (the batch outputs)",
            "predict_and_proba_in_process",
        ),
        ("Batch, CSV -> CSV, after start-up (`score_file`)", "batch_csv_in_process"),
        ("Batch, Parquet -> Parquet, after start-up (`score_file`)", "batch_parquet_in_process"),
        ("Batch command, CSV -> CSV, end to end", "batch_csv_command"),
        ("Batch command, Parquet -> Parquet, end to end", "batch_parquet_command"),
    ]
    for label, name in rows:
        versus = ratio(result, name)
        proba = ratio(result, name, "predict_and_proba_in_process")
        lines.append(f"| {label} | {rates[name]:,} | {versus:.2f} | {proba:.2f} |")
    lines += [
        "",
        "End to end is a fresh process: imports, loading and verifying the model, reading, "
        "validating, predicting labels and probabilities, writing "
        f"({result['command_seconds']['csv']} s for CSV, "
        f"{result['command_seconds']['parquet']} s for Parquet).",
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
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as scratch:
        project = args.project.resolve() if args.project else bake_project(Path(scratch))
        work = Path(scratch) / "files"
        work.mkdir()
        result = measure(project, work, args.rows, args.chunk_size, args.repeats)
    options = {"rows": args.rows, "chunk-size": args.chunk_size, "repeats": args.repeats}
    result["command"] = "python benchmarks/batch.py" + "".join(
        f" --{name} {value}" for name, value in options.items()
    )
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "batch.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (args.results / "batch.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


if __name__ == "__main__":
    main()
