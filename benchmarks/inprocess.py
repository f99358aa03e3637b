"""In-process cost of predicting the same rows, without HTTP (run in the project's venv).

python inprocess.py MODULE BODY.json REPEATS  ->  JSON with seconds per call
"""

from __future__ import annotations

import importlib
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd


def median_seconds(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall time of each call, the calls interleaved so load changes hit all alike."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()  # warm-up
    for _ in range(repeats):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - started)
    return {f"{name}_s": statistics.median(values) for name, values in times.items()}


def main() -> None:
    module, body, repeats = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    settings = importlib.import_module(f"{module}.config").load_settings()
    model = importlib.import_module(f"{module}.prediction.loader").load_model(
        settings.paths.model, settings.paths.metadata
    )
    parse_records = importlib.import_module(f"{module}.serving.validation").parse_records
    records = json.loads(body.read_bytes())
    result = {
        "rows": len(records),
        **median_seconds(
            {
                "pipeline_predict": lambda: model.pipeline.predict(pd.DataFrame(records)),
                "validate": lambda: parse_records(records, model.schema, settings.serving),
                "validate_and_predict": lambda: model.predict(
                    parse_records(records, model.schema, settings.serving)
                ),
            },
            repeats,
        ),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
