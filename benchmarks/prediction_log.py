"""What the prediction log costs a request: the same app with the log on and off.

    build/demo/penguin-classifier/.venv/bin/python benchmarks/prediction_log.py \\
        --project build/demo/penguin-classifier          # a baked, trained project

Writes benchmarks/results/prediction_log.json and .md. All numbers come from one run.

In the project's own environment, three apps serve the trained model through Flask's test
client (no network): logging off (the baseline) and on (each request's body handed to the
worker's writer process, which re-reads, encodes and appends the records to a temporary
log). Blocks of requests alternate between the two, so a change in the machine's load
hits both alike. Per request: median wall time until the block's last answer (what
clients wait); CPU time of the worker (this process, all its threads: what the log takes
from serving); and CPU time of the writer process until it has written everything (what
the log costs the machine, on another core when there is one). CPU time moves much less
with other jobs on a shared machine than wall time. A third app hands its requests to a
sink process that drops them: its ratios are the log's cost inside the worker alone.
Also: the time ``submit`` takes inside the request.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from serving import cpu_seconds  # noqa: E402

RESULTS = HERE / "results"


def writer_cpu(app: Any) -> float:
    """CPU seconds the app's writer process has used so far (0 without one)."""
    log = app.extensions.get("prediction_log")
    pid = log.writer_pid if log is not None else None
    if pid is None:
        return 0.0
    return cpu_seconds(pid)


def block(app: Any, body: list[dict[str, Any]], requests: int) -> tuple[float, float, float]:
    """(wall, worker CPU, writer CPU) seconds per request over ``requests`` requests: wall
    until the last answer (what clients wait), CPU of this process and of the writer
    process until the writer has written everything."""
    client = app.test_client()
    writer = writer_cpu(app)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(requests):
        assert client.post("/predict", json=body).status_code == 200
    answered = time.perf_counter()
    log = app.extensions.get("prediction_log")
    if log is not None and not app.config.get("SINK"):  # a sink never answers a flush
        assert log.flush(60)
    worker = time.process_time() - cpu
    return (answered - wall) / requests, worker / requests, (writer_cpu(app) - writer) / requests


def measure(apps: dict[str, Any], body: list[dict[str, Any]], requests: int, blocks: int) -> dict:
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in apps}
    for app in apps.values():
        block(app, body, max(requests // 10, 1))  # warm-up
    for number in range(blocks):
        names = list(apps)[number % len(apps) :] + list(apps)[: number % len(apps)]
        for name in names:
            samples[name].append(block(apps[name], body, requests))
    result: dict[str, Any] = {"records_per_request": len(body)}
    for name, values in samples.items():
        result[f"{name}_wall_ms"] = round(statistics.median(v[0] for v in values) * 1e3, 4)
        result[f"{name}_cpu_ms"] = round(statistics.median(v[1] for v in values) * 1e3, 4)
    # The kernel counts a process's CPU in clock ticks (10 ms): the mean over all blocks.
    writer = statistics.mean(v[2] for v in samples["on"]) * 1e3
    result["writer_cpu_ms"] = round(writer, 4)
    # Ratios of the same round's blocks (run back to back), then their median: a change in
    # the machine's load between rounds cancels out.
    for name in ("on", "sink"):
        pairs = list(zip(samples[name], samples["off"], strict=True))
        prefix = "" if name == "on" else "sink_"
        result[f"{prefix}wall_ratio"] = round(statistics.median(a[0] / b[0] for a, b in pairs), 3)
        result[f"{prefix}cpu_ratio"] = round(statistics.median(a[1] / b[1] for a, b in pairs), 3)
    result["machine_cpu_ratio"] = round((result["on_cpu_ms"] + writer) / result["off_cpu_ms"], 3)
    return result


# A writer process that reads and drops everything: the log's cost inside the worker
# (submit, pipe writes) without the real writer's work running beside it.
SINK = "import os, time\nwhile os.read(0, 1 << 20):\n    time.sleep(0.05)\n"


def sink_app(module: str, settings: Any) -> Any:
    """An app whose prediction log goes to SINK instead of the writer process."""
    writer_pipe = importlib.import_module(f"{module}.prediction_log.writer_pipe")
    create_app = importlib.import_module(f"{module}.serving.app").create_app
    real = writer_pipe.start_writer

    def start() -> subprocess.Popen[bytes]:
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE}
        return subprocess.Popen([sys.executable, "-c", SINK], **pipes)

    writer_pipe.start_writer = start
    try:
        app = create_app(settings)
        app.extensions["prediction_log"].start()
    finally:
        writer_pipe.start_writer = real
    app.config["SINK"] = True
    return app


def submit_cost(app: Any, body: list[dict[str, Any]], calls: int) -> float:
    """Median microseconds of one ``submit`` (what runs inside the request)."""
    schema = app.extensions["model"].schema
    data = json.dumps(body).encode()
    labels = ["x"] * len(body)
    log = app.extensions["prediction_log"]
    times = []
    for index in range(calls):
        started = time.perf_counter()
        log.submit(f"r{index}", "v", schema, data, labels)
        times.append(time.perf_counter() - started)
        if index % 100 == 99:
            log.flush(60)  # keep the queue from filling: this measures submit alone
    log.flush(60)
    return round(statistics.median(times) * 1e6, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True, help="a baked, trained project")
    parser.add_argument("--requests", type=int, default=200, help="requests per block")
    parser.add_argument("--blocks", type=int, default=30, help="blocks per setting")
    parser.add_argument("--batch", type=int, default=100, help="records in the batch request")
    args = parser.parse_args()
    project = args.project.resolve()
    module = _package(project)
    os.environ[f"{module.upper()}_PARAMS"] = str(project / "params.yaml")
    sys.path.insert(0, str(project / "src"))
    config = importlib.import_module(f"{module}.config")
    create_app = importlib.import_module(f"{module}.serving.app").create_app
    settings = config.load_settings()
    folder = Path(tempfile.mkdtemp(prefix="prediction-log-bench-"))
    on = settings.with_paths(prediction_log=folder / "predictions.jsonl")
    log_off = on.monitoring.log.model_copy(update={"enabled": False})
    off = on.model_copy(update={"monitoring": on.monitoring.model_copy(update={"log": log_off})})
    apps = {"off": create_app(off), "on": create_app(on), "sink": sink_app(module, on)}
    example = json.loads(settings.paths.metadata.read_text(encoding="utf-8"))["input_example"]
    single = measure(apps, [example], args.requests, args.blocks)
    batch = measure(apps, [example] * args.batch, max(args.requests // 10, 5), args.blocks)
    result = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load": round(os.getloadavg()[0], 2),
        },
        "single": single,
        "batch": batch,
        "submit_us": {
            "single": submit_cost(apps["on"], [example], 2000),
            "batch": submit_cost(apps["on"], [example] * args.batch, 500),
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
        "Per request, median of blocks; ratios are medians of adjacent on/off block pairs. "
        "Worker = the serving process (all its threads); writer = the log's writer process.",
        "",
        "| Request | off wall ms | on wall ms | wall ratio | off worker CPU ms "
        "| on worker CPU ms | worker CPU ratio | writer CPU ms | machine CPU ratio "
        "| sink wall ratio | sink worker CPU ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("single", "batch"):
        row = result[name]
        lines.append(
            f"| {row['records_per_request']} record(s) | {row['off_wall_ms']} | "
            f"{row['on_wall_ms']} | {row['wall_ratio']} | {row['off_cpu_ms']} | "
            f"{row['on_cpu_ms']} | {row['cpu_ratio']} | {row['writer_cpu_ms']} | "
            f"{row['machine_cpu_ratio']} | {row['sink_wall_ratio']} | {row['sink_cpu_ratio']} |"
        )
    lines += [
        "",
        f"Inside the request, `submit` takes {result['submit_us']['single']} µs (1 record) and "
        f"{result['submit_us']['batch']} µs ({result['batch']['records_per_request']} records). "
        "Machine CPU ratio = (worker + writer CPU with the log) / worker CPU without it: what "
        "the log costs in all, on a core the worker does not use when there is one. Sink: "
        "the same worker handing its requests to a process that drops them, so the sink "
        "ratios are the log's cost inside the worker alone (submit and pipe writes); the "
        "rest of the on/off gap is the writer's work running beside the worker on the "
        "same machine.",
        f"Machine: {result['machine']['cpus']} CPUs, load average {result['machine']['load']}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
