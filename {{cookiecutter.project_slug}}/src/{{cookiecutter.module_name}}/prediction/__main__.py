"""Command line for the serving side: in-process predictions, batch files and a served demo.

``python -m {{ cookiecutter.module_name }}.prediction predict records.json`` scores JSON records
without a server; ``... batch INPUT --output OUTPUT`` scores a CSV or Parquet file of any
size in chunks (see prediction/batch.py); ``... demo`` starts gunicorn on a free loopback
port, sends the model's example record, prints the request and the answer, and stops the
server.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from {{ cookiecutter.module_name }}.config import ConfigError, load_settings
from {{ cookiecutter.module_name }}.prediction.batch import (
    EXIT_FAILED,
    EXIT_ROWS_REJECTED,
    run_batch,
)
from {{ cookiecutter.module_name }}.prediction.model import (
    ModelLoadError,
    load_model,
)
from {{ cookiecutter.module_name }}.prediction.validation import (
    RequestError,
    parse_records,
)

APP = "{{ cookiecutter.module_name }}.prediction.app:create_app()"


def predict_file(path: str) -> int:
    """Print predictions for the JSON records in ``path`` (``-`` reads standard input)."""
    settings = load_settings()
    model = load_model(
        settings.paths.model,
        settings.paths.metadata,
        settings.serving.trusted_types,
        runtime=settings.inference.runtime,
    )
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
    """Send one request with the standard library; return (status, parsed JSON)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


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
        except (urllib.error.URLError, ConnectionError, TimeoutError):
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
        prog="python -m {{ cookiecutter.module_name }}.prediction",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="score JSON records from a file or stdin")
    predict.add_argument(
        "input", help="JSON file with one record or a list of records; - for stdin"
    )
    add_batch_parser(commands)
    commands.add_parser("demo", help="serve, send one example request, print it, stop")
    args = parser.parse_args(argv)
    try:
        if args.command == "batch":
            return run_batch(args.input, args.output, args.errors, args.chunk_size, args.id_columns)
        return predict_file(args.input) if args.command == "predict" else demo()
    except (ConfigError, ModelLoadError, RuntimeError, OSError, ValueError) as error:
        detail = error.detail if isinstance(error, RequestError) else error
        print(f"error: {detail}", file=sys.stderr)
        return EXIT_FAILED


def add_batch_parser(commands: argparse._SubParsersAction) -> None:
    """The ``batch`` sub-command: its options and its exit codes."""
    batch = commands.add_parser(
        "batch",
        help="score a CSV or Parquet file in chunks (constant memory)",
        description="Score INPUT chunk by chunk into OUTPUT (.csv or .parquet); rows that "
        "cannot be scored go to the errors file with the reason.",
        epilog=f"exit codes: 0 every row scored; {EXIT_ROWS_REJECTED} finished, but some rows "
        f"are in the errors file; {EXIT_FAILED} nothing written (the message says why); "
        "2 wrong arguments",
    )
    batch.add_argument("input", help="the rows to score: a .csv or .parquet file")
    batch.add_argument(
        "-o", "--output", required=True, help="where to write predictions (.csv or .parquet)"
    )
    batch.add_argument(
        "--errors",
        help="where to write refused rows (default: beside OUTPUT, batch.errors_suffix)",
    )
    batch.add_argument(
        "--chunk-size", type=int, help="rows in memory at a time (default: batch.chunk_size)"
    )
    batch.add_argument(
        "--id-column",
        dest="id_columns",
        action="append",
        help="input column to copy into the output; repeat for several (default: batch.id_columns)",
    )


if __name__ == "__main__":
    sys.exit(main())
