"""In-process cost of predicting the same rows, without HTTP (run in the project's venv).

python inprocess.py MODULE BODY.json REPEATS  ->  JSON with seconds per call
"""

from __future__ import annotations

import importlib
import json
import statistics
import sys
import time
from pathlib import Path

import pandas as pd


def median_seconds(call, repeats: int) -> float:
    call()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    module, body, repeats = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    settings = importlib.import_module(f"{module}.config").load_settings()
    model = importlib.import_module(f"{module}.prediction.model").load_model(
        settings.paths.model, settings.paths.metadata
    )
    parse_records = importlib.import_module(f"{module}.prediction.validation").parse_records
    records = json.loads(body.read_bytes())
    result = {
        "rows": len(records),
        "pipeline_predict_s": median_seconds(
            lambda: model.pipeline.predict(pd.DataFrame(records)), repeats
        ),
        "validate_and_predict_s": median_seconds(
            lambda: model.predict(parse_records(records, model.schema, settings.serving)), repeats
        ),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
