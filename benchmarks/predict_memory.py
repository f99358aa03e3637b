"""Why the batch benchmark's baseline moves: page faults of ``pipeline.predict``'s arrays.

    .venv/bin/python benchmarks/predict_memory.py --project build/demo/penguin-classifier

Times in-process ``pipeline.predict`` on ``--rows`` rows (resampled from the project's raw
data, as benchmarks/batch.py does), ``--calls`` times in one process with a batch run of
the same rows before each call (the batch benchmark also runs batch jobs between its
``predict`` calls, though Parquet with scikit-learn, not CSV), and counts the
minor page faults of each call (``getrusage``). It does so twice, in fresh processes: with
glibc's defaults, and with glibc told to keep freed memory mapped
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``), so each call's large arrays
reuse pages instead of faulting in new ones. Writes benchmarks/results/predict_memory.json
and .md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from batch import child_env, module_of
from batch import run as run_command

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
KEEP_MAPPED = {"MALLOC_MMAP_THRESHOLD_": "268435456", "MALLOC_TRIM_THRESHOLD_": "1073741824"}


def calls(module: str, folder: Path, count: int) -> list[dict[str, float]]:
    """Wall seconds and minor page faults of each ``predict`` call (in the project's venv)."""
    sys.path.insert(0, str(HERE))
    import pandas as pd
    from batch_worker import project

    settings, model = project(module)
    batch = importlib.import_module(f"{module}.batch.run")
    features = model.schema.coerce_features(pd.read_csv(folder / "throughput.csv"))
    measured = []
    for _ in range(count):
        # As in benchmarks/batch.py, batch work comes between two calls.
        batch.score_file(model, folder / "throughput.csv", folder / "scored.csv", settings)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        model.pipeline.predict(features)
        measured.append(
            {
                "seconds": time.perf_counter() - start,
                "minor_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults,
            }
        )
    return measured


def run(python: str, project: Path, module: str, folder: Path, count: int, env: dict) -> list:
    command = [python, __file__, "--calls-only", module, str(folder), str(count)]
    output = subprocess.run(
        command, cwd=project, env={**child_env(), **env}, capture_output=True, text=True, check=True
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def summary(measured: list[dict[str, float]]) -> dict[str, float]:
    """The first call apart (imports and first allocations), then medians of the rest."""
    rest = measured[1:]
    return {
        "first_seconds": round(measured[0]["seconds"], 3),
        "median_seconds": round(statistics.median(m["seconds"] for m in rest), 3),
        "median_minor_faults": statistics.median(m["minor_faults"] for m in rest),
    }


def main() -> None:
    if sys.argv[1:2] == ["--calls-only"]:
        module, folder, count = sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
        print(json.dumps(calls(module, folder, count)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, required=True, help="a baked, trained project")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=6)
    args = parser.parse_args()
    project = args.project.resolve()
    python = str(project / ".venv/bin/python")
    module = module_of(project)
    with tempfile.TemporaryDirectory(prefix="predict-memory-") as scratch:
        folder = Path(scratch)
        worker = [python, str(HERE / "batch_worker.py"), module, "data", scratch]
        run_command([*worker, str(args.rows), "1"], project)
        result = {
            name: summary(run(python, project, module, folder, args.calls, env))
            for name, env in (("glibc defaults", {}), ("freed memory kept mapped", KEEP_MAPPED))
        }
    result = {
        "command": f"python benchmarks/predict_memory.py --rows {args.rows} --calls {args.calls}",
        "machine": {"cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 1)},
        "environment": KEEP_MAPPED,
        "predict": result,
    }
    lines = [
        "# Page faults of the baseline `pipeline.predict`",
        "",
        f"`{result['command']}`: {args.rows:,} rows, {args.calls} calls in one process, "
        f"{result['machine']['cpus']} CPUs, load average {result['machine']['load_average_1min']}. "
        "The first call is shown apart; the other columns are medians of the rest.",
        "",
        "| glibc | first call s | median s | median minor faults per call |",
        "|---|---:|---:|---:|",
    ]
    for name, values in result["predict"].items():
        lines.append(
            f"| {name} | {values['first_seconds']} | {values['median_seconds']} | "
            f"{values['median_minor_faults']:,.0f} |"
        )
    lines += ["", "Kept mapped: " + " ".join(f"`{k}={v}`" for k, v in KEEP_MAPPED.items()), ""]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "predict_memory.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "predict_memory.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
