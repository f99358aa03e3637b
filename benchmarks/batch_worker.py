"""The in-project half of benchmarks/batch.py: runs with the baked project's interpreter.

``python batch_worker.py MODULE data OUT_DIR ROWS CHUNK`` writes the benchmark's input
files (raw rows of the project's dataset, resampled); ``... MODULE throughput OUT_DIR
CHUNK REPEATS`` times ``pipeline.predict`` and the batch code in-process and prints JSON.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from batch import remove_outputs  # this folder is the script's, so first on sys.path
from threadpoolctl import threadpool_limits


def project(module: str) -> tuple[Any, Any]:
    """The project's settings and its model, loaded the way the server loads it."""
    config = importlib.import_module(f"{module}.config")
    loader = importlib.import_module(f"{module}.prediction.loader")
    settings = config.load_settings()
    loaded = loader.load_model(
        settings.paths.model, settings.paths.metadata, settings.serving.trusted_types
    )
    return settings, loaded


def write_data(module: str, out_dir: Path, rows: int, chunk: int) -> dict[str, Any]:
    """Resample the raw data (with its gaps) to the sizes the benchmark needs."""
    settings, model = project(module)
    raw = pd.read_csv(
        settings.paths.raw_data,
        sep=settings.data.separator,
        na_values=list(settings.data.na_values),
    )
    raw = raw[model.schema.features]
    sizes = {"throughput": rows, "memory_1x": chunk, "memory_10x": 10 * chunk, "startup": 1}
    files = {}
    for name, size in sizes.items():
        frame = raw.sample(size, replace=True, random_state=size).reset_index(drop=True)
        files[f"{name}.csv"] = size
        frame.to_csv(out_dir / f"{name}.csv", index=False)
        if name == "throughput":
            frame.to_parquet(out_dir / f"{name}.parquet", index=False, row_group_size=chunk)
            files[f"{name}.parquet"] = size
    return files


def throughput(module: str, folder: Path, chunk: int, repeats: int) -> dict[str, Any]:
    """Best-of-``repeats`` seconds of the baseline and of the batch code, interleaved.

    The baseline is ``pipeline.predict`` (and ``predict`` + ``predict_proba``) on every row
    at once, already read and typed; also with one BLAS thread, as the batch runs (a
    second BLAS thread waits on a busy core). The batch code is ``score_file``, which
    the command runs after start-up: read, validate, predict with probabilities, write;
    with the runtime params.yaml picks (the ONNX copy when it passed) and, for Parquet,
    with scikit-learn forced. Alternating them makes all share whatever load the machine
    has at the time.
    """
    settings, model = project(module)
    settings = settings.model_copy(
        update={"batch": settings.batch.model_copy(update={"chunk_size": chunk})}
    )
    batch = importlib.import_module(f"{module}.batch.run")
    features = model.schema.coerce_features(pd.read_csv(folder / "throughput.csv"))
    runtime = importlib.import_module(f"{module}.prediction.engine")
    sklearn_model = dataclasses.replace(model, runtime_choice=runtime.SKLEARN_ONLY)

    def predict_one_blas_thread() -> Any:
        with threadpool_limits(limits=1, user_api="blas"):
            return model.pipeline.predict(features)

    jobs = {
        "predict": lambda: model.pipeline.predict(features),
        "predict_one_blas_thread": predict_one_blas_thread,
        "predict_and_proba": lambda: (
            model.pipeline.predict(features),
            model.pipeline.predict_proba(features),
        ),
        **{
            f"score_file_{kind}": lambda kind=kind: batch.score_file(
                model, folder / f"throughput.{kind}", folder / f"scored.{kind}", settings
            )
            for kind in ("csv", "parquet")
        },
        "score_file_parquet_sklearn": lambda: batch.score_file(
            sklearn_model, folder / "throughput.parquet", folder / "scored.parquet", settings
        ),
    }
    wall: dict[str, list[float]] = {name: [] for name in jobs}
    cpu: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(repeats):
        for name, job in jobs.items():
            remove_outputs(folder, "scored")  # both formats' outputs and errors files
            start, start_cpu = time.perf_counter(), time.process_time()
            job()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {
        "rows": len(features),
        "seconds": {name: min(values) for name, values in wall.items()},
        "median_seconds": {name: statistics.median(values) for name, values in wall.items()},
        "cpu_seconds": {name: min(values) for name, values in cpu.items()},
        "model": type(model.pipeline[-1]).__name__,
        "runtime": model.runtime,
        "libraries": {
            name: importlib.metadata.version(name)
            for name in ("numpy", "pandas", "pyarrow", "scikit-learn")
        },
    }


def main(argv: list[str]) -> None:
    module, command, *args = argv
    if command == "data":
        result = write_data(module, Path(args[0]), int(args[1]), int(args[2]))
    else:
        result = throughput(module, Path(args[0]), int(args[1]), int(args[2]))
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
