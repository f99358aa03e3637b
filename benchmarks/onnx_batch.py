"""In-process timings for benchmarks/onnx.py, run with a baked project's own interpreter.

Prints one JSON object: milliseconds per call (the best of several repeats, as timeit
advises, so other processes on the machine disturb it least) for one row and for a
1,000-row batch, with scikit-learn and with the ONNX copy, both for the bare engine call
and for the project's whole ``LoadedModel.predict`` (labels, probabilities, JSON rows).

Usage: ``<project>/.venv/bin/python onnx_batch.py <project folder>``
"""

from __future__ import annotations

import json
import os
import sys
import timeit
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any

import pandas as pd

BATCH_ROWS = 1000


def best_ms(call: Callable[[], Any], budget_s: float = 1.5, repeats: int = 5) -> float:
    """Milliseconds per call: the best of ``repeats`` rounds sized to fit the budget."""
    call()  # warm caches and lazy imports
    single = timeit.timeit(call, number=1)
    number = max(1, int(budget_s / repeats / max(single, 1e-6)))
    rounds = timeit.repeat(call, number=number, repeat=repeats)
    return round(min(rounds) / number * 1000, 4)


def main(project: Path) -> dict[str, Any]:
    """Time both engines on the project's test split, one row and 1,000 rows."""
    os.chdir(project)
    module = next(path.parent.name for path in (project / "src").glob("*/config.py"))
    config = import_module(f"{module}.config")
    loader = import_module(f"{module}.prediction.loader")
    data = import_module(f"{module}.training.data")
    settings = config.load_settings(project / "params.yaml")
    paths = settings.paths
    models = {
        runtime: loader.load_model(paths.model, paths.metadata, runtime=runtime)
        for runtime in ("sklearn", "onnx")
    }
    test_rows, _ = data.load_split(paths.test_data, settings)
    repeated = pd.concat([test_rows] * (BATCH_ROWS // len(test_rows) + 1), ignore_index=True)
    batches = {"1 row": test_rows.iloc[:1], f"{BATCH_ROWS:,} rows": repeated.iloc[:BATCH_ROWS]}
    pipeline = models["sklearn"].pipeline
    onnx = models["onnx"].runtime_choice.onnx
    timings: dict[str, dict[str, float]] = {}
    for name, rows in batches.items():
        timings[name] = {
            "sklearn predict_proba": best_ms(lambda rows=rows: pipeline.predict_proba(rows)),
            "onnx session (inputs + run)": best_ms(lambda rows=rows: onnx.predict(rows)),
            "LoadedModel.predict, sklearn": best_ms(
                lambda rows=rows: models["sklearn"].predict(rows)
            ),
            "LoadedModel.predict, onnx": best_ms(lambda rows=rows: models["onnx"].predict(rows)),
        }
    return {"module": module, "timings_ms": timings}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]).resolve())))
