"""What the prediction log costs a request: the same app with the log on and off.

    build/demo/penguin-classifier/.venv/bin/python benchmarks/prediction_log.py \\
        --project build/demo/penguin-classifier          # a baked, trained project

Writes benchmarks/results/prediction_log.json and .md. All numbers come from one run.

In the project's own environment, two apps serve the trained model through Flask's test
client (no network): logging off (the baseline) and on (records queued to the writer
thread, which encodes and appends them to a temporary log). Blocks of requests alternate
between the two, so a change in the machine's load hits both alike. Per request: median
wall time until the block's last answer (what clients wait) and CPU time of the process
until the writer has written everything (all threads, the writer's work included; CPU
time moves much less with other jobs on a shared machine). Also: the time ``submit``
takes inside the request, which is all the log adds to a request's latency while the CPU
has room (back to back, as here, the writer thread competes for the interpreter).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def block(app: Any, body: list[dict[str, Any]], requests: int) -> tuple[float, float]:
    """(wall, CPU) seconds per request over ``requests`` requests: wall until the last
    answer (what clients wait), CPU until the writer has written everything (what the
    log costs the machine, all threads of the process)."""
    client = app.test_client()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(requests):
        assert client.post("/predict", json=body).status_code == 200
    answered = time.perf_counter()
    log = app.extensions.get("prediction_log")
    if log is not None:
        assert log.flush(60)
    return (answered - wall) / requests, (time.process_time() - cpu) / requests


def measure(apps: dict[str, Any], body: list[dict[str, Any]], requests: int, blocks: int) -> dict:
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in apps}
    for app in apps.values():
        block(app, body, max(requests // 10, 1))  # warm-up
    for number in range(blocks):
        names = list(apps) if number % 2 == 0 else list(reversed(apps))
        for name in names:
            samples[name].append(block(apps[name], body, requests))
    result: dict[str, Any] = {"records_per_request": len(body)}
    for name, values in samples.items():
        result[f"{name}_wall_ms"] = round(statistics.median(v[0] for v in values) * 1e3, 4)
        result[f"{name}_cpu_ms"] = round(statistics.median(v[1] for v in values) * 1e3, 4)
    result["wall_ratio"] = round(result["on_wall_ms"] / result["off_wall_ms"], 3)
    result["cpu_ratio"] = round(result["on_cpu_ms"] / result["off_cpu_ms"], 3)
    return result


def submit_cost(app: Any, module: str, body: list[dict[str, Any]], calls: int) -> float:
    """Median microseconds of one ``submit`` (what runs inside the request)."""
    settings = app.config["SETTINGS"]
    schema = app.extensions["model"].schema
    parse = importlib.import_module(f"{module}.prediction.validation").parse_records
    features = parse(body, schema, settings.serving)
    predictions = [{"prediction": "x"}] * len(body)
    log = app.extensions["prediction_log"]
    times = []
    for index in range(calls):
        started = time.perf_counter()
        log.submit(f"r{index}", "v", features, predictions)
        times.append(time.perf_counter() - started)
        if index % 100 == 99:
            log.flush(60)  # keep the queue from filling: this measures submit alone
    log.flush(60)
    return round(statistics.median(times) * 1e6, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True, help="a baked, trained project")
    parser.add_argument("--requests", type=int, default=200, help="requests per block")
    parser.add_argument("--blocks", type=int, default=10, help="blocks per setting")
    parser.add_argument("--batch", type=int, default=100, help="records in the batch request")
    args = parser.parse_args()
    project = args.project.resolve()
    module = _package(project)
    os.environ[f"{module.upper()}_PARAMS"] = str(project / "params.yaml")
    sys.path.insert(0, str(project / "src"))
    config = importlib.import_module(f"{module}.config")
    create_app = importlib.import_module(f"{module}.prediction.app").create_app
    settings = config.load_settings()
    folder = Path(tempfile.mkdtemp(prefix="prediction-log-bench-"))
    on = settings.with_paths(prediction_log=folder / "predictions.jsonl")
    log_off = on.monitoring.log.model_copy(update={"enabled": False})
    off = on.model_copy(update={"monitoring": on.monitoring.model_copy(update={"log": log_off})})
    apps = {"off": create_app(off), "on": create_app(on)}
    example = json.loads(settings.paths.metadata.read_text(encoding="utf-8"))["input_example"]
    single = measure(apps, [example], args.requests, args.blocks)
    batch = measure(apps, [example] * args.batch, max(args.requests // 10, 5), args.blocks)
    result = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "single": single,
        "batch": batch,
        "submit_us": {
            "single": submit_cost(apps["on"], module, [example], 2000),
            "batch": submit_cost(apps["on"], module, [example] * args.batch, 500),
        },
        "log_bytes_written": sum(path.stat().st_size for path in folder.glob("predictions*")),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "prediction_log.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "prediction_log.md").write_text(_markdown(result))
    print(_markdown(result))


def _package(project: Path) -> str:
    """The project's one package under src/."""
    (package,) = [
        path.name for path in (project / "src").iterdir() if (path / "config.py").is_file()
    ]
    return package


def _markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Prediction log: cost per request (log on vs off, same run)",
        "",
        "| Request | off wall ms | on wall ms | wall ratio | off CPU ms | on CPU ms | CPU ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("single", "batch"):
        row = result[name]
        lines.append(
            f"| {row['records_per_request']} record(s) | {row['off_wall_ms']} | "
            f"{row['on_wall_ms']} | {row['wall_ratio']} | {row['off_cpu_ms']} | "
            f"{row['on_cpu_ms']} | {row['cpu_ratio']} |"
        )
    lines += [
        "",
        f"Inside the request, `submit` takes {result['submit_us']['single']} µs (1 record) and "
        f"{result['submit_us']['batch']} µs ({result['batch']['records_per_request']} records): "
        "the rest of the log's cost is the writer thread's (in the CPU columns).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
