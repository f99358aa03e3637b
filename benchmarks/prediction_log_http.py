"""What the prediction log costs over HTTP: the project's server with the log on and off.

    .venv/bin/python benchmarks/prediction_log_http.py --project PATH   # a baked, trained project

Writes benchmarks/results/prediction_log_http.json and .md. All numbers come from one run.

Two gunicorn servers of the same project (its gunicorn.conf.py, sync workers) run side by
side, one with ``monitoring.log.enabled`` false (the baseline); loadgen.py drives each
in turn with closed-loop connections, rounds alternating the order so that a change in
the machine's load hits both alike. Per case and server: median latency, throughput,
CPU per request of the workers, and of the log-on server's writer processes; and the
records the log holds against the records answered, so that a log that kept up is told
apart from one that dropped records (a niced writer on a saturated machine does).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from serving import MODULE, load, process_table, start, workers_cpu_seconds  # noqa: E402

RESULTS = HERE / "results"
CASES = {"1 record": 1, "100 records": 100}
SERVERS = ("off", "on")


def writers_cpu_seconds(master: int) -> float:
    """CPU seconds used so far by the writer processes of ``master``'s workers."""
    table = process_table()
    workers = {pid for pid, (parent, _) in table.items() if parent == master}
    return sum(cpu for parent, cpu in table.values() if parent in workers)


def logged_records(folder: Path) -> int:
    """Lines in the log and its rotated files."""
    files = [path for path in folder.glob("predictions.jsonl*") if path.is_file()]
    return sum(sum(1 for _ in path.open("rb")) for path in files)


def log_errors(base: str) -> dict[str, float]:
    """prediction_log_errors_total by reason, from the server's /metrics."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        text = response.read().decode()
    errors: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("prediction_log_errors_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            errors[reason] = errors.get(reason, 0.0) + float(line.rsplit(" ", 1)[1])
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True, help="a baked, trained project")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    project = args.project.resolve()
    metadata = json.loads((project / "models" / "metadata.json").read_text(encoding="utf-8"))
    record = metadata["input_example"]
    scratch = Path(tempfile.mkdtemp(prefix="prediction-log-http-"))
    bodies = {}
    for case, rows in CASES.items():
        bodies[case] = scratch / f"{rows}.json"
        bodies[case].write_text(json.dumps(record if rows == 1 else [record] * rows))
    module = MODULE.upper()
    log_folder = scratch / "logs"
    overrides = {
        "off": {f"{module}__MONITORING__LOG__ENABLED": "false"},
        "on": {  # a bound the run cannot reach: every record must stay countable
            f"{module}__PATHS__PREDICTION_LOG": str(log_folder / "predictions.jsonl"),
            f"{module}__MONITORING__LOG__MAX_BYTES": str(1 << 34),
        },
    }
    load_before = os.getloadavg()[0]
    servers: dict[str, Any] = {}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {c: {s: [] for s in SERVERS} for c in CASES}
    answered = 0
    saved = dict(os.environ)
    try:
        for name in SERVERS:
            os.environ.clear()
            os.environ.update({**saved, **overrides[name]})
            servers[name] = start(project, "project", args.workers)
        os.environ.clear()
        os.environ.update(saved)
        for number in range(args.rounds):
            order = SERVERS if number % 2 == 0 else SERVERS[::-1]
            for case in CASES:
                for name in order:
                    process, base = servers[name]
                    warm = load(base, bodies[case], args.connections, 1.0)
                    workers, writers = (
                        workers_cpu_seconds(process.pid),
                        writers_cpu_seconds(process.pid),
                    )
                    result = load(base, bodies[case], args.connections, args.seconds)
                    requests = result["requests"]
                    result["cpu_ms_per_request"] = round(
                        (workers_cpu_seconds(process.pid) - workers) / requests * 1000, 3
                    )
                    result["writer_cpu_ms_per_request"] = round(
                        (writers_cpu_seconds(process.pid) - writers) / requests * 1000, 3
                    )
                    if name == "on":
                        answered += (requests + warm["requests"]) * CASES[case]
                    runs[case][name].append(result)
                    print(f"round {number + 1} {case:12} {name:4} {result}", flush=True)
        time.sleep(1.0)  # the writer's last burst
        errors = log_errors(servers["on"][1])
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(timeout=30)
    report = {
        "arguments": {k: v for k, v in vars(args).items() if k != "project"},
        "cpus": os.cpu_count(),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "records_answered_with_log_on": answered,
        "records_logged": logged_records(log_folder),
        "records_dropped_by_reason": errors,
        "cases": {case: summary(runs[case]) for case in CASES},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "prediction_log_http.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "prediction_log_http.md").write_text(markdown(report))
    print(markdown(report))


def summary(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians per server, and on/off ratios of each round's pair, then their median."""
    result: dict[str, Any] = {}
    for name in SERVERS:
        for key in ("p50_ms", "p99_ms", "throughput", "cpu_ms_per_request"):
            result[f"{name}_{key}"] = statistics.median(run[key] for run in runs[name])
    result["writer_cpu_ms_per_request"] = statistics.median(
        run["writer_cpu_ms_per_request"] for run in runs["on"]
    )
    pairs = list(zip(runs["on"], runs["off"], strict=True))
    for key in ("p50_ms", "throughput", "cpu_ms_per_request"):
        result[f"{key}_ratio"] = round(statistics.median(a[key] / b[key] for a, b in pairs), 3)
    return result


def markdown(report: dict[str, Any]) -> str:
    arguments = report["arguments"]
    lines = [
        "# Prediction log over HTTP: log on vs off (same run)",
        "",
        f"gunicorn, {arguments['workers']} sync worker(s) per server, "
        f"{arguments['connections']} closed-loop connection(s), {arguments['rounds']} rounds "
        f"of {arguments['seconds']} s per case and server; {report['cpus']} CPUs, load "
        f"average {report['load_average'][0]} before, {report['load_average'][1]} after. "
        "Ratios: on / off per round, median of rounds.",
        "",
        "| Request | p50 ms off | p50 ms on | p50 ratio | req/s ratio "
        "| worker CPU ms off | worker CPU ms on | worker CPU ratio | writer CPU ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case, row in report["cases"].items():
        lines.append(
            f"| {case} | {row['off_p50_ms']} | {row['on_p50_ms']} | {row['p50_ms_ratio']} | "
            f"{row['throughput_ratio']} | {row['off_cpu_ms_per_request']} | "
            f"{row['on_cpu_ms_per_request']} | {row['cpu_ms_per_request_ratio']} | "
            f"{row['writer_cpu_ms_per_request']} |"
        )
    lines += [
        "",
        f"Records answered by the log-on server: {report['records_answered_with_log_on']}; "
        f"records in its log: {report['records_logged']}; dropped and counted: "
        f"{report['records_dropped_by_reason'] or 'none'}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
