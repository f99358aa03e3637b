"""A small closed-loop HTTP load generator (standard library only).

N connections each send the same POST as soon as the previous answer arrives, for a fixed
time, and reconnect whenever the server closes (gunicorn's sync workers close after each
response). Prints one JSON object: requests, errors, throughput, latency percentiles.

    python loadgen.py --url http://127.0.0.1:8000/predict --body body.json --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from urllib.parse import urlsplit


def build_request(url: str, body: bytes) -> tuple[str, int, bytes]:
    """Host, port and the raw bytes of the POST request."""
    parts = urlsplit(url)
    head = (
        f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return parts.hostname or "127.0.0.1", parts.port or 80, head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return its status and whether the server keeps the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers.get("connection") != "close"


async def connection_loop(
    host: str, port: int, request: bytes, stop_at: float, latencies: list[float], errors: list[int]
) -> None:
    reader = writer = None
    while time.perf_counter() < stop_at:
        if writer is None:
            reader, writer = await asyncio.open_connection(host, port)
        started = time.perf_counter()
        writer.write(request)
        status, keep = await read_response(reader)
        latencies.append(time.perf_counter() - started)
        if status != 200:
            errors.append(status)
        if not keep:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def run(url: str, body: bytes, connections: int, seconds: float) -> dict[str, float]:
    host, port, request = build_request(url, body)
    latencies: list[float] = []
    errors: list[int] = []
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(
        *(
            connection_loop(host, port, request, stop_at, latencies, errors)
            for _ in range(connections)
        )
    )
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "seconds": round(elapsed, 3),
        "throughput": round(len(latencies) / elapsed, 1),
        "p50_ms": round(cuts[49] * 1000, 2),
        "p99_ms": round(cuts[98] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", type=Path, required=True, help="file holding the JSON body")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    result = asyncio.run(run(args.url, args.body.read_bytes(), args.connections, args.seconds))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
