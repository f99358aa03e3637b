"""Serving benchmark: the project's app against the ceiling of its stack, in the same run.

Five apps run under gunicorn with the baked project's gunicorn.conf.py (sync workers) on
the loopback interface: ``hello`` (Flask parsing the body and answering a constant of the
same shape: the most this stack serves), ``core`` (the project's validation and model,
nothing else: the most the project's essential work allows), ``project`` (the generated
service, on its default runtime), ``project-log-off`` (the same without its prediction
log) and ``bare`` (the thinnest Flask app calling the pipeline's scikit-learn ``predict``).
A separate process (loadgen.py) drives each with closed-loop connections for a fixed time.
Rounds rotate the order of the apps so that a change in the machine's load hits all alike.
Also measured: the per-row cost of one 1,000-row request against in-process predictions
on the same rows. Each run's headline ratios are appended to results/serving_runs.json,
so the spread across runs is on record.

    .venv/bin/python benchmarks/serving.py                  # bakes into build/bench
    .venv/bin/python benchmarks/serving.py --project PATH   # a baked, trained project

Writes benchmarks/results/serving.json and serving.md. Takes about ten minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from report import APPS, build_report, markdown

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parent
RESULTS = HERE / "results"
MODULE = "penguin_classifier"
CASES = {"single record": 1, "100 records": 100}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bake_project(folder: Path) -> Path:
    """Bake the default answers and run the project's own setup and training."""
    project = folder / "penguin-classifier"
    if not (project / "models/metadata.json").is_file():
        subprocess.run(
            [
                str(Path(sys.executable).with_name("cookiecutter")),
                "--no-input",
                "-f",
                "-o",
                str(folder),
                str(TEMPLATE),
            ],
            check=True,
        )
        subprocess.run(["make", "setup", "train"], cwd=project, check=True)
    return project


def start(
    project: Path, app: str, workers: int, threads: int = 1
) -> tuple[subprocess.Popen[bytes], str]:
    """Start one app under gunicorn with the project's config; wait until it answers.
    ``threads`` above 1 makes the config choose gunicorn's threaded worker (gthread)."""
    port = free_port()
    env = {
        **os.environ,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_THREADS": str(threads),
        "GUNICORN_ACCESSLOG": "",
        "BENCH_MODULE": MODULE,
    }
    if app == "project-log-off":  # the project's own setting, through its environment
        env[f"{MODULE.upper()}__MONITORING__LOG__ENABLED"] = "false"
    targets = {
        "hello": "hello_app:create_app()",
        "core": "core_app:create_app()",
        "bare": "bare_app:create_app()",
    }
    target = targets.get(app, f"{MODULE}.serving.app:create_app()")
    command = [str(project / ".venv/bin/gunicorn"), "--config", "gunicorn.conf.py"]
    if app in targets:
        command += ["--pythonpath", str(HERE)]
    process = subprocess.Popen(
        [*command, target],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(process, base, app)
    except BaseException:
        process.terminate()
        process.wait(timeout=30)
        raise
    return process, base


def wait_until_up(process: subprocess.Popen[bytes], base: str, app: str) -> None:
    """Return once the app answers a request (any status); fail if gunicorn exits."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn for the {app} app exited with {process.returncode}")
        request = urllib.request.Request(f"{base}/predict", data=b"x", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5):
                return
        except urllib.error.HTTPError:
            return  # it answered (a 4xx for the bad body): it is up
        except (urllib.error.URLError, ConnectionError, TimeoutError):  # still booting
            time.sleep(0.2)
    raise RuntimeError(f"the {app} app did not answer within 60 s")


def workers_cpu_seconds(master: int) -> float:
    """CPU time (user + system) used so far by the gunicorn master's descendants: its
    workers and their children (the project's prediction log writers, a few percent of a
    single record's cost and a third of a 100-record request's).

    Unlike throughput, CPU per request does not depend on how much of the machine other
    programs take: it is the robust measure of the service's own cost (Linux /proc only).
    Processes that ended during the round are not counted (gunicorn restarts none here).
    """
    table = process_table()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    total, frontier = 0.0, list(children.get(master, []))
    while frontier:
        pid = frontier.pop()
        total += table[pid][1]
        frontier += children.get(pid, [])
    return total


def process_table() -> dict[int, tuple[int, float]]:
    """Every process's (parent pid, CPU seconds used so far), from /proc."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(stat)
        if fields:
            table[int(stat.parent.name)] = (int(fields[1]), _cpu(fields))
    return table


def cpu_seconds(pid: int) -> float:
    """CPU seconds one process has used so far (0 once it is gone)."""
    fields = _stat_fields(Path(f"/proc/{pid}/stat"))
    return _cpu(fields) if fields else 0.0


def _stat_fields(stat: Path) -> list[str] | None:
    """The fields after the command name: state, ppid, ..., utime (11), stime (12)."""
    try:
        return stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _cpu(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(base: str, body: Path, connections: int, seconds: float) -> dict[str, Any]:
    """Run loadgen.py in its own process against ``base``/predict."""
    output = subprocess.run(
        [
            sys.executable,
            str(HERE / "loadgen.py"),
            "--url",
            f"{base}/predict",
            "--body",
            str(body),
            "--connections",
            str(connections),
            "--seconds",
            str(seconds),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(output)
    if result["errors"]:
        raise RuntimeError(f"{result['errors']} requests to {base} failed: {result}")
    return result


def one_request_seconds(base: str, body: bytes, repeats: int) -> float:
    """Median wall time of one POST over a fresh connection (what a client sees)."""
    times = []
    for _ in range(repeats + 1):
        request = urllib.request.Request(
            f"{base}/predict", data=body, headers={"Content-Type": "application/json"}
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])  # the first one warms the worker up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="a baked and trained project")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads per worker for every app: above 1, gthread workers (keep-alive)",
    )
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0, help="per round, app and case")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    project = args.project or bake_project(TEMPLATE / "build/bench")
    metadata = json.loads((project / "models/metadata.json").read_text(encoding="utf-8"))
    record = metadata["input_example"]
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        run_benchmark(args, project, record, Path(scratch))


def run_benchmark(
    args: argparse.Namespace, project: Path, record: dict[str, Any], scratch: Path
) -> None:
    """Write the request bodies, start both servers, measure, always stop the servers."""
    bodies = {}
    for case, rows in {**CASES, "1000 records": 1000}.items():
        bodies[case] = scratch / f"{rows}.json"
        bodies[case].write_text(json.dumps(record if rows == 1 else [record] * rows))

    load_before = os.getloadavg()
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {c: {a: [] for a in APPS} for c in CASES}
    try:
        for app in APPS:
            servers[app] = start(project, app, args.workers, args.threads)
        for round_number in range(args.rounds):
            shift = round_number % len(APPS)
            order = APPS[shift:] + APPS[:shift]
            for case in CASES:
                for app in order:
                    process, base = servers[app]
                    load(base, bodies[case], args.connections, 1.0)  # warm-up
                    cpu_before = workers_cpu_seconds(process.pid)
                    result = load(base, bodies[case], args.connections, args.seconds)
                    cpu = workers_cpu_seconds(process.pid) - cpu_before
                    result["cpu_ms_per_request"] = round(cpu / result["requests"] * 1000, 3)
                    runs[case][app].append(result)
                    print(f"round {round_number + 1} {case:14} {app:8} {result}", flush=True)
        # 1,000 rows: served and in-process alternate, so load changes hit both alike.
        batch = bodies["1000 records"].read_bytes()
        served, inprocess_runs = [], []
        for _ in range(args.rounds):
            served.append(one_request_seconds(servers["project"][1], batch, 10))
            inprocess_runs.append(in_process(project, bodies["1000 records"], 10))
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(timeout=30)
    inprocess = {
        key: statistics.median(run[key] for run in inprocess_runs) for key in inprocess_runs[0]
    }
    report = build_report(vars(args), runs, statistics.median(served), inprocess, load_before)
    report["commit"] = template_commit()
    RESULTS.mkdir(exist_ok=True)
    # The default (sync workers) keeps the run history; a threaded run is a side measurement.
    name = "serving" if args.threads == 1 else "serving_gthread"
    if args.threads == 1:
        report["runs"] = record_run(report, RESULTS / "serving_runs.json")
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (RESULTS / f"{name}.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))


def record_run(report: dict[str, Any], history: Path) -> list[dict[str, Any]]:
    """Append this run's headline ratios to ``history``; return every run recorded."""
    runs = json.loads(history.read_text(encoding="utf-8")) if history.is_file() else []
    runs.append(
        {
            "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "commit": report["commit"],
            "load_average_at_start": report["machine"]["load_average_at_start"][0],
            "load_average_at_end": report["machine"]["load_average_at_end"][0],
            **{
                f"{case}, {app} / hello": result["ratio_to_ceiling"][app]
                for case, result in report["cases"].items()
                for app in ("project", "core")
            },
        }
    )
    history.write_text(json.dumps(runs, indent=2) + "\n", encoding="utf-8")
    return runs


def template_commit() -> str:
    """The template's commit the run measured (``+changes`` when its files other than the
    results differ from it): the spread in serving.md is taken over the runs of one commit."""

    def git(*command: str) -> str:
        return subprocess.run(
            ["git", *command], cwd=TEMPLATE, capture_output=True, text=True, check=True
        ).stdout.strip()

    # Not the results: every run rewrites them.
    changed = git(
        "status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results"
    )
    return git("rev-parse", "--short", "HEAD") + ("+changes" if changed else "")


def in_process(project: Path, body: Path, repeats: int) -> dict[str, float]:
    """Time predictions on the rows of ``body`` inside the project's environment."""
    command = [str(project / ".venv/bin/python"), str(HERE / "inprocess.py"), MODULE, str(body)]
    output = subprocess.run(
        [*command, str(repeats)], check=True, capture_output=True, text=True, cwd=project
    ).stdout
    return json.loads(output)


if __name__ == "__main__":
    main()
