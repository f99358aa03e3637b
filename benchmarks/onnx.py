"""Benchmark the ONNX inference path against scikit-learn, side by side in one run.

Three servers run under the same gunicorn settings (the baked project's
``gunicorn.conf.py``: sync workers, ``--workers`` of them) on loopback ports:

- ``project, onnx``: the served project with ``inference.runtime: onnx``;
- ``project, sklearn``: the same project with ``inference.runtime: sklearn``;
- ``bare Flask + sklearn``: ``onnx_bare_app.py``, JSON -> DataFrame -> ``predict_proba``.

This process is the load generator (asyncio, one connection per request as sync workers
close them). Rounds interleave the servers so that other load on the machine hits all
three alike; each round measures one client in sequence (latency) and ``--concurrency``
clients (throughput). Then the project's interpreter times 1,000-row batch scoring in
process (``onnx_batch.py``). Results: ``benchmarks/results/onnx.{md,json}``.

Usage (from the template repository, after ``make venv``):
    .venv/bin/python benchmarks/onnx.py                    # bakes, sets up and trains
    .venv/bin/python benchmarks/onnx.py --project PATH     # reuse a trained bake
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parent
RESULTS = HERE / "results"
SERVERS = ("project, onnx", "project, sklearn", "bare Flask + sklearn")
BASELINE = "bare Flask + sklearn"
TARGETS = {"throughput_ratio": 3.0, "p99_ratio": 0.5, "batch_ratio": 5.0}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bake_project(folder: Path) -> Path:
    """Bake a default project into ``folder`` and run its ``make setup train``."""
    subprocess.run(["rm", "-rf", str(folder)], check=True)
    cookiecutter = Path(sys.executable).with_name("cookiecutter")
    subprocess.run(
        [str(cookiecutter), "--no-input", "--output-dir", str(folder), str(TEMPLATE)], check=True
    )
    (project,) = folder.iterdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    subprocess.run(["make", "setup", "train"], cwd=project, check=True, env=env)
    return project


def start_server(name: str, project: Path, module: str, port: int, workers: int, stack: ExitStack):
    """Start one gunicorn with the project's config; return the process."""
    gunicorn = str(project / ".venv/bin/gunicorn")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")},
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
    }
    config = ["--config", str(project / "gunicorn.conf.py")]
    if name == BASELINE:
        env["BARE_MODEL"] = str(project / "models/model.skops")
        command = [gunicorn, *config, "--pythonpath", str(HERE), "onnx_bare_app:create_app()"]
    else:
        env[f"{module.upper()}__INFERENCE__RUNTIME"] = name.split(", ")[1]
        command = [gunicorn, *config, f"{module}.serving.app:create_app()"]
    process = subprocess.Popen(
        command, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    stack.callback(lambda: (process.terminate(), process.wait(timeout=30)))
    return process


def post(url: str, body: bytes) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_ready(url: str, body: bytes, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server for {url} exited with {process.returncode}")
        try:
            post(url, body)
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {timeout} s")


async def one_request(port: int, raw: bytes) -> tuple[bool, float]:
    """Send one HTTP/1.1 request on a fresh connection; (status 200?, seconds)."""
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    answer = await reader.read()  # sync workers close the connection after the response
    writer.close()
    return answer[9:12] == b"200", time.perf_counter() - start


async def load(port: int, raw: bytes, clients: int, seconds: float) -> dict[str, float]:
    """``clients`` closed-loop clients for ``seconds`` (after a short warm-up)."""
    latencies: list[float] = []
    errors = 0
    warmup_end = time.perf_counter() + 0.5
    end = warmup_end + seconds

    async def client() -> None:
        nonlocal errors
        while time.perf_counter() < end:
            ok, latency = await one_request(port, raw)
            if time.perf_counter() <= warmup_end:
                continue
            if ok:
                latencies.append(latency)
            else:
                errors += 1

    await asyncio.gather(*(client() for _ in range(clients)))
    latencies.sort()
    return {
        "requests_per_s": len(latencies) / seconds,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "requests": len(latencies),
        "errors": errors,
    }


def http_request(port: int, body: bytes) -> bytes:
    head = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


def median_of(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(r[key] for r in rounds), 3) for key in rounds[0]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    project = args.project.resolve() if args.project else bake_project(args.bake_dir.resolve())
    module = next(path.parent.name for path in (project / "src").glob("*/config.py"))
    metadata = json.loads((project / "models/metadata.json").read_text(encoding="utf-8"))
    if metadata.get("onnx", {}).get("status") != "passed":
        raise SystemExit(f"the project's ONNX copy did not pass its gate: {metadata.get('onnx')}")
    body = json.dumps(metadata["input_example"]).encode()
    ports = {name: free_port() for name in SERVERS}
    results: dict[str, Any] = {"servers": {}}
    load_before = os.getloadavg()
    with ExitStack() as stack:
        processes = {
            name: start_server(name, project, module, ports[name], args.workers, stack)
            for name in SERVERS
        }
        answers = {}
        for name in SERVERS:
            url = f"http://127.0.0.1:{ports[name]}/predict"
            wait_ready(url, body, processes[name])
            answers[name] = post(url, body)["predictions"][0]["prediction"]
        if len(set(answers.values())) != 1:
            raise SystemExit(f"the servers disagree on the example: {answers}")
        for name in SERVERS[:2]:
            url = f"http://127.0.0.1:{ports[name]}/metadata"
            with urllib.request.urlopen(url, timeout=10) as response:
                active = json.loads(response.read())["runtime"]["active"]
            if active != name.split(", ")[1]:
                raise SystemExit(f"{name} serves with {active}")
        sequential: dict[str, list] = {name: [] for name in SERVERS}
        concurrent: dict[str, list] = {name: [] for name in SERVERS}
        for _ in range(args.rounds):
            for name in SERVERS:
                raw = http_request(ports[name], body)
                sequential[name].append(asyncio.run(load(ports[name], raw, 1, args.seconds)))
                concurrent[name].append(
                    asyncio.run(load(ports[name], raw, args.concurrency, args.seconds))
                )
    for name in SERVERS:
        results["servers"][name] = {
            "sequential": median_of(sequential[name]),
            "concurrent": median_of(concurrent[name]),
        }
    batch = subprocess.run(
        [str(project / ".venv/bin/python"), str(HERE / "onnx_batch.py"), str(project)],
        capture_output=True,
        text=True,
        check=True,
    )
    results["in_process"] = json.loads(batch.stdout)["timings_ms"]
    results["settings"] = {
        "workers": args.workers,
        "worker_class": "sync",
        "concurrency": args.concurrency,
        "seconds_per_measurement": args.seconds,
        "rounds": args.rounds,
        "payload": "the model's input_example, one record per request",
    }
    results["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "libraries": metadata["libraries"] | metadata["onnx"]["libraries"],
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    results["ratios"] = ratios(results)
    return results


def ratios(results: dict[str, Any]) -> dict[str, float]:
    servers = results["servers"]
    onnx, bare = servers["project, onnx"], servers[BASELINE]
    batch = results["in_process"]["1,000 rows"]
    return {
        "throughput_ratio": round(
            onnx["concurrent"]["requests_per_s"] / bare["concurrent"]["requests_per_s"], 2
        ),
        "p99_ratio": round(onnx["concurrent"]["p99_ms"] / bare["concurrent"]["p99_ms"], 3),
        "p99_ratio_sequential": round(
            onnx["sequential"]["p99_ms"] / bare["sequential"]["p99_ms"], 3
        ),
        "batch_ratio": round(
            batch["sklearn predict_proba"] / batch["onnx session (inputs + run)"], 1
        ),
        "batch_ratio_loaded_model": round(
            batch["LoadedModel.predict, sklearn"] / batch["LoadedModel.predict, onnx"], 1
        ),
    }


def verdict(value: float, target: float, higher_is_better: bool = True) -> str:
    met = value >= target if higher_is_better else value <= target
    return "met" if met else "NOT met"


def markdown(results: dict[str, Any]) -> str:
    r, s = results["ratios"], results["settings"]
    met = {
        "throughput": verdict(r["throughput_ratio"], TARGETS["throughput_ratio"]),
        "p99": verdict(r["p99_ratio"], TARGETS["p99_ratio"], higher_is_better=False),
        "batch": verdict(r["batch_ratio"], TARGETS["batch_ratio"]),
    }
    lines = [
        "# ONNX inference path: benchmark",
        "",
        "Generated by `benchmarks/onnx.py`; every ratio compares numbers measured in the same "
        "run, on the same machine, under the same gunicorn settings "
        f"({s['workers']} `{s['worker_class']}` workers, the project's `gunicorn.conf.py`). "
        f"Median of {s['rounds']} interleaved rounds of {s['seconds_per_measurement']} s each. "
        f"Machine: {results['machine']['cpus']} CPUs, Python {results['machine']['python']}, "
        f"load average {results['machine']['load_average_before'][0]} before and "
        f"{results['machine']['load_average_after'][0]} after (the machine is shared); "
        f"the load generator runs on the same cores. {results['machine']['date']}.",
        "",
        "## Targets",
        "",
        "| Target | Measured | |",
        "|---|---|---|",
        f"| single-record throughput >= {TARGETS['throughput_ratio']}x the bare app "
        f"| {r['throughput_ratio']}x | {met['throughput']} |",
        f"| p99 latency <= {TARGETS['p99_ratio']}x the bare app's (under load) "
        f"| {r['p99_ratio']}x | {met['p99']} |",
        f"| 1,000-row batch >= {TARGETS['batch_ratio']}x faster than scikit-learn in process "
        f"| {r['batch_ratio']}x | {met['batch']} |",
        "",
        f"Also: p99 with one client in sequence {r['p99_ratio_sequential']}x the bare app's; "
        f"1,000 rows through the whole `LoadedModel.predict` (JSON-ready rows included) "
        f"{r['batch_ratio_loaded_model']}x faster with ONNX.",
        "",
        "## Served, one record per request",
        "",
        f"| Server | req/s ({s['concurrency']} clients) | p50 ms | p99 ms "
        "| req/s (1 client) | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, numbers in results["servers"].items():
        c, q = numbers["concurrent"], numbers["sequential"]
        lines.append(
            f"| {name} | {c['requests_per_s']:.0f} | {c['p50_ms']:.2f} | {c['p99_ms']:.2f} "
            f"| {q['requests_per_s']:.0f} | {q['p50_ms']:.2f} | {q['p99_ms']:.2f} |"
        )
    lines += ["", "## In process, milliseconds per call (best of 5)", ""]
    batches = list(results["in_process"])
    lines += ["| Call | " + " | ".join(batches) + " |", "|---|" + "---|" * len(batches)]
    for call in results["in_process"][batches[0]]:
        values = " | ".join(f"{results['in_process'][b][call]:.3f}" for b in batches)
        lines.append(f"| {call} | {values} |")
    lines += ["", "Raw numbers: `onnx.json`.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="a baked project, set up and trained")
    parser.add_argument("--bake-dir", type=Path, default=TEMPLATE / "build/bench-onnx")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    results = run(args)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "onnx.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (args.output / "onnx.md").write_text(markdown(results), encoding="utf-8")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
