"""What reaches the app through a real gunicorn: chunked bodies, and the errors gunicorn
answers itself. Flask's test client builds the WSGI environ by hand; these requests go
over a socket, byte for byte, to the sync worker of `make serve`.

Slow (gunicorn starts in a few seconds): run with `pytest -m slow`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.module_name }}.config import ENV_PREFIX, Settings
from {{ cookiecutter.module_name }}.serving.__main__ import (
    APP,
    free_port,
    wait_until_ready,
)

pytestmark = pytest.mark.slow

LIMIT = 4096  # serving.max_body_bytes for this server
JSON_HEADERS = b"Host: test\r\nContent-Type: application/json\r\n"


@dataclass
class Server:
    port: int
    log: Path

    def send(self, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        """Send raw bytes on a new connection; the status, headers and body answered."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as connection:
            connection.sendall(raw)
            connection.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines)
        }
        return int(status_line.split()[1]), headers, body

    def post_chunked(self, framed: bytes) -> tuple[int, dict[str, Any]]:
        """POST /predict with a chunked body already framed; the status and JSON answer."""
        raw = b"POST /predict HTTP/1.1\r\n" + JSON_HEADERS
        status, headers, body = self.send(raw + b"Transfer-Encoding: chunked\r\n\r\n" + framed)
        assert headers["content-type"] == "application/json", body
        return status, json.loads(body)


def chunked(body: bytes, size: int = 1000) -> bytes:
    """``body`` framed as well-formed chunks of ``size`` bytes."""
    chunks = [body[start : start + size] for start in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"


@pytest.fixture(scope="module")
def server(trained: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn with the project's config, one sync worker, every path in a temp folder."""
    folder = tmp_path_factory.mktemp("gunicorn")
    port = free_port()
    paths = {
        f"{ENV_PREFIX}__PATHS__{name.upper()}": str(path)
        for name, path in trained.paths.model_dump().items()
    }
    env = {
        **os.environ,
        **paths,
        f"{ENV_PREFIX}__PATHS__REGISTRY": str(folder / "store"),  # empty: the trained model
        f"{ENV_PREFIX}__PATHS__PREDICTION_LOG": str(folder / "predictions.jsonl"),
        f"{ENV_PREFIX}__SERVING__MAX_BODY_BYTES": str(LIMIT),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_ACCESSLOG": "",
        "PROMETHEUS_MULTIPROC_DIR": str(folder / "metrics"),
    }
    log = folder / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
             APP],
            cwd=trained.root, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_until_ready(f"http://127.0.0.1:{port}", process)
            yield Server(port, log)
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture
def record(trained: Settings) -> bytes:
    metadata = json.loads(trained.paths.metadata.read_text(encoding="utf-8"))
    return json.dumps(metadata["input_example"]).encode()


def test_a_chunked_body_is_read_whole(server: Server, record: bytes) -> None:
    exactly = record + b" " * (LIMIT - len(record))
    for body in (record, exactly):
        status, answer = server.post_chunked(chunked(body, size=7))
        assert status == 200, answer
        assert len(answer["predictions"]) == 1


@pytest.mark.parametrize("excess", [1, 1000, 60_000])
def test_a_chunked_body_over_the_limit_is_413_even_if_its_start_is_valid(
    server: Server, record: bytes, excess: int
) -> None:
    valid_start = record + b" " * (LIMIT - len(record))
    status, answer = server.post_chunked(chunked(valid_start + b"x" * excess))
    assert status == 413, answer
    assert answer["error"] == "body_too_large"


def test_a_declared_length_over_the_limit_is_413(server: Server, record: bytes) -> None:
    body = b"[" + b",".join([record] * (LIMIT // len(record) + 1)) + b"]"
    raw = b"POST /predict HTTP/1.1\r\n" + JSON_HEADERS
    status, _, answer = server.send(raw + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    assert status == 413
    assert json.loads(answer)["error"] == "body_too_large"


@pytest.mark.parametrize(
    "framed",
    [
        pytest.param(b"zz\r\n{}\r\n0\r\n\r\n", id="chunk size not hexadecimal"),
        pytest.param(b"2\r\n{}XX0\r\n\r\n", id="chunk not ended by CRLF"),
        pytest.param(b"2;\x01\r\n{}\r\n0\r\n\r\n", id="control byte in a chunk extension"),
    ],
)
def test_a_broken_chunk_framing_is_400_json_without_traceback(
    server: Server, framed: bytes
) -> None:
    status, answer = server.post_chunked(framed)
    assert status == 400, answer
    assert answer["error"] == "malformed_body"
    assert "Traceback" not in server.log.read_text(encoding="utf-8", errors="replace")


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        pytest.param(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: test\r\n\r\n", 414, id="414"),
        pytest.param(
            b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % n for n in range(200)) + b"\r\n",
            431,
            id="431",
        ),
        pytest.param(b"NOT HTTP\r\n\r\n", 400, id="400"),
    ],
)
def test_gunicorn_answers_broken_requests_itself(server: Server, raw: bytes, status: int) -> None:
    """These never reach the app, so gunicorn's own page answers them, not JSON: a proxy
    in front gives the clients' answers (docs/serving.md). The worker keeps serving."""
    assert server.send(raw)[0] == status
    assert server.send(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")[0] == 200
