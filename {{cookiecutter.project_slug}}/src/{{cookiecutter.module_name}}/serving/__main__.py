"""Command line for the JSON request format: in-process predictions and a served demo.

``python -m {{ cookiecutter.module_name }}.serving predict records.json`` scores JSON records
without a server, validated exactly as ``/predict`` validates them; ``... demo`` starts
gunicorn on a free loopback port, sends the model's example record, prints the request and
the answer, and stops the server. Files of any size are scored by the ``batch`` package.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from http.client import HTTPConnection, HTTPException
from typing import Any
from urllib.parse import urlsplit

from {{ cookiecutter.module_name }}.config import ConfigError, load_settings
from {{ cookiecutter.module_name }}.prediction.loader import ModelLoadError
from {{ cookiecutter.module_name }}.prediction.store import load_served_model
from {{ cookiecutter.module_name }}.serving.validation import (
    RequestError,
    parse_records,
)

APP = "{{ cookiecutter.module_name }}.serving.app:create_app()"


def predict_file(path: str) -> int:
    """Print predictions for the JSON records in ``path`` (``-`` reads standard input)."""
    settings = load_settings()
    model = load_served_model(settings)
    with open(
        sys.stdin.fileno() if path == "-" else path, encoding="utf-8", closefd=path != "-"
    ) as stream:
        payload = json.load(stream)
    features = parse_records(payload, model.schema, settings.serving)
    answer = {"model_version": model.version, "predictions": model.predict(features)}
    print(json.dumps(answer, indent=2))
    return 0


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    """Send one request over plain HTTP with the standard library; return (status, parsed
    JSON). Only ``http://host:port/path``: never another scheme (``file:``) by mistake."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"not an http:// URL: {url!r}")
    data = None if body is None else json.dumps(body).encode()
    connection = HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(
            method, parts.path or "/", body=data, headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def wait_until_ready(base: str, server: subprocess.Popen[bytes], seconds: float = 120) -> None:
    """Poll /health/ready until 200; fail fast if the server dies or stays unready.

    A booting worker (importing scikit-learn can take seconds on a busy machine) leaves
    the connection waiting: a timed-out poll is retried until the deadline.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {server.returncode}")
        try:
            status, body = http("GET", f"{base}/health/ready")
            if status == 200:
                return
            if status == 503:
                raise RuntimeError(f"the server has no model: {body.get('detail')}")
        except (OSError, HTTPException):  # refused, reset or timed out while it boots
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server was not ready within {seconds:.0f} s")


def demo() -> int:
    """Serve with gunicorn, send the model's example record, print both, stop."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        APP,
    ]
    print(f"$ gunicorn {' '.join(command[3:])}", flush=True)
    server = subprocess.Popen(command)
    try:
        wait_until_ready(base, server)
        _, metadata = http("GET", f"{base}/metadata")
        serving = metadata.get("serving", {})
        print(
            f"\nServing model {metadata['version']} ({serving.get('stage')}, from the {serving.get('source')})"
        )
        if serving.get("stage") != "prod":
            print(f"  {serving.get('detail', '')}")
        record = metadata["input_example"]
        print(f"\nPOST {base}/predict\n{json.dumps(record, indent=2)}")
        status, answer = http("POST", f"{base}/predict", record)
        print(f"\nHTTP {status}\n{json.dumps(answer, indent=2)}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    print("\nServer stopped. To keep serving: `make serve` (gunicorn on 127.0.0.1:8000).")
    return 0 if status == 200 else 1


def main(argv: list[str] | None = None) -> int:
    """Dispatch the sub-command; report user errors in one line."""
    parser = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.module_name }}.serving",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="score JSON records from a file or stdin")
    predict.add_argument(
        "input", help="JSON file with one record or a list of records; - for stdin"
    )
    commands.add_parser("demo", help="serve, send one example request, print it, stop")
    args = parser.parse_args(argv)
    try:
        return predict_file(args.input) if args.command == "predict" else demo()
    except (ConfigError, ModelLoadError, RuntimeError, OSError, ValueError) as error:
        detail = error.detail if isinstance(error, RequestError) else error
        print(f"error: {detail}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
