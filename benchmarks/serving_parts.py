"""What each of the project's behaviours costs a served record, in process.

The serving benchmark (serving.py) measures whole servers; this one takes its apps apart.
Each app is called through its WSGI entry point (what gunicorn calls, without HTTP) with
the same one-record POST, and the worker's CPU time per request is measured: hello and
core (the ceilings of serving.py), the project, and the project with one behaviour taken
out at a time. The differences are what each behaviour costs inside the worker; the
prediction log's writer process is not counted here (serving.py counts it).

Run with a baked project's interpreter, from the project's folder:

    cd build/bench/penguin-classifier
    .venv/bin/python ../../../benchmarks/serving_parts.py

Writes benchmarks/results/serving_parts.json and serving_parts.md: medians of 7 rounds,
each app measured in a fresh process, the order rotating.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
MODULE = "penguin_classifier"
ROUNDS, CALLS = 7, 2000
RELOAD = "<lambda>"  # serving/reload.py's before-request hook: watcher.refresh(app)


def wsgi_call(app: Any, body: bytes) -> Callable[[], None]:
    """One POST /predict of ``body`` through ``app``'s WSGI entry point, answer read."""
    base = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/predict",
        "QUERY_STRING": "",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "bench",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.append(status)

    def call() -> None:
        environ = {**base, "wsgi.input": io.BytesIO(body)}
        answer = app(environ, start_response)
        b"".join(answer)
        getattr(answer, "close", lambda: None)()
        if not statuses.pop().startswith("200"):
            raise RuntimeError("the app did not answer 200")

    return call


def without_hooks(app: Any, names: Iterable[str]) -> Any:
    """``app`` without the before- and after-request functions of these names; an error if
    one is not there (renamed in the project: the variant would measure nothing)."""
    names, removed = set(names), set()
    for hooks in (app.before_request_funcs, app.after_request_funcs):
        for key, functions in hooks.items():
            removed |= {getattr(f, "__name__", "") for f in functions} & names
            hooks[key] = [f for f in functions if getattr(f, "__name__", "") not in names]
    if removed != names:
        raise LookupError(f"the app has no request hook named {sorted(names - removed)}")
    return app


def factories() -> dict[str, Callable[[], Any]]:
    """How to build each app to compare, by the name the report gives it."""
    sys.path.insert(0, str(HERE))
    os.environ.setdefault("BENCH_MODULE", MODULE)
    import core_app
    import hello_app

    create_app = __import__(f"{MODULE}.serving.app", fromlist=["create_app"]).create_app
    load_settings = __import__(f"{MODULE}.config", fromlist=["load_settings"]).load_settings

    def log_off() -> Any:
        settings = load_settings()
        log = settings.monitoring.log.model_copy(update={"enabled": False})
        monitoring = settings.monitoring.model_copy(update={"log": log})
        return create_app(settings.model_copy(update={"monitoring": monitoring}))

    def no_counters(app: Any) -> Any:
        app.extensions["metrics"].count_predictions = lambda predictions: None
        return app

    return {
        "hello": hello_app.create_app,
        "core": core_app.create_app,
        "project": create_app,
        "project, prediction log off": log_off,
        "project, no request metrics (timer and counter hooks)": lambda: without_hooks(
            create_app(), ["start_timer", "record"]
        ),
        "project, no model reload check (hook)": lambda: without_hooks(create_app(), [RELOAD]),
        "project, no prediction counters": lambda: no_counters(create_app()),
        "project, none of the four above": lambda: no_counters(
            without_hooks(log_off(), ["start_timer", "record", RELOAD])
        ),
    }


def measure_here(name: str, body: bytes) -> float:
    """CPU µs per request of one app, built in this process alone: apps built side by side
    in one process change each other's caches, enough to blur differences of 10 µs."""
    call = wsgi_call(factories()[name](), body)
    for _ in range(200):  # warm up: caches, lazily built validators, the log writer
        call()
    started = time.process_time()
    for _ in range(CALLS):
        call()
    return (time.process_time() - started) / CALLS * 1e6


def measure(names: list[str]) -> dict[str, float]:
    """Median over ROUNDS rounds; each round runs every app once, each in a fresh
    process, the order rotating."""
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(ROUNDS):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            output = subprocess.run(
                [sys.executable, __file__, "--app", name],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            times[name].append(float(output.strip().splitlines()[-1]))
    return {name: statistics.median(values) for name, values in times.items()}


def markdown(us: dict[str, float]) -> str:
    """The report: each app's µs and ratio to hello, then what each behaviour costs."""
    hello, project = us["hello"], us["project"]
    lines = [
        "# What each behaviour costs a served record, in process",
        "",
        "Generated by `benchmarks/serving_parts.py`; do not edit by hand.",
        "",
        f"**The project spends {project - us['core']:.0f} µs more per record than the core"
        f" app (validation and the model only), {project / us['core']:.2f}x its time;"
        f" hello spends {hello:.0f} µs.** The prediction log's writer process is not"
        " counted here (serving.py counts it).",
        "",
        "| app | µs per request (worker CPU) | / hello | project minus this |",
        "|---|---:|---:|---:|",
        *(
            f"| {name} | {value:.1f} | {value / hello:.2f}x | {project - value:.1f} |"
            for name, value in us.items()
        ),
        "",
        f"One record per POST through the WSGI entry point; medians of {ROUNDS} rounds of"
        f" {CALLS} requests, each app in a fresh process, the order rotating; Python"
        f" {sys.version.split()[0]}. The last column is what the project saves by dropping"
        " that behaviour (for hello and core: everything they do not do).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    # As under gunicorn.conf.py: Prometheus samples go to files (set before its import).
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="prometheus-"))
    record = json.loads(Path("models/metadata.json").read_text(encoding="utf-8"))
    body = json.dumps(record["input_example"]).encode()
    if sys.argv[1:2] == ["--app"]:  # one measurement, in a process of its own
        print(measure_here(sys.argv[2], body))
        return
    us = measure(list(factories()))
    RESULTS.mkdir(exist_ok=True)
    report = {"us_per_request": {name: round(value, 1) for name, value in us.items()}}
    (RESULTS / "serving_parts.json").write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    (RESULTS / "serving_parts.md").write_text(markdown(us), encoding="utf-8")
    print(markdown(us))


if __name__ == "__main__":
    main()
