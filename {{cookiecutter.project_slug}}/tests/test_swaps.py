"""Zero-downtime model swaps: a running server follows promotions and rollbacks.

The store is filled with the registry's own writers (export, atomic pointer), exactly as
``make promote`` and ``make rollback`` leave it.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from {{ cookiecutter.module_name }}.config import ENV_PREFIX, Settings
from {{ cookiecutter.module_name }}.prediction.store import ModelStore, Pointer
from {{ cookiecutter.module_name }}.registry.publish import (
    append_audit,
    export_version,
    write_pointer,
)
from {{ cookiecutter.module_name }}.serving.__main__ import (
    free_port,
)
from {{ cookiecutter.module_name }}.serving.app import create_app
from {{ cookiecutter.module_name }}.storage import read_json

GOOD = ("v1.0.0", "v2.0.0")
TAMPERED = "v3.0.0"


@pytest.fixture
def store_settings(trained: Settings, tmp_path: Path) -> Settings:
    """Settings whose store holds two good versions and one with a tampered artifact."""
    settings = trained.with_paths(registry=tmp_path / "store")
    settings = settings.model_copy(
        update={"serving": settings.serving.model_copy(update={"reload_interval": 0.0})}
    )
    store = ModelStore(settings.paths.registry)
    metadata = read_json(trained.paths.metadata)
    for version in (*GOOD, TAMPERED):
        export_version(store, version, trained.paths.model, {**metadata, "version": version})
    artifact = store.artifact_path(TAMPERED, metadata)
    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    return settings


def promote(settings: Settings, version: str) -> None:
    write_pointer(ModelStore(settings.paths.registry), Pointer(version))


def served_version(client: FlaskClient, example: dict[str, Any]) -> str:
    response = client.post("/predict", json=example)
    assert response.status_code == 200, response.get_json()
    return str(response.get_json()["model_version"])


def test_promotion_and_rollback_reach_a_running_app(
    store_settings: Settings, example_record: dict[str, Any]
) -> None:
    promote(store_settings, "v1.0.0")
    client = create_app(store_settings).test_client()
    assert served_version(client, example_record) == "v1.0.0"
    promote(store_settings, "v2.0.0")
    assert served_version(client, example_record) == "v2.0.0"
    promote(store_settings, "v1.0.0")  # a rollback is a pointer move too
    assert served_version(client, example_record) == "v1.0.0"
    assert client.get("/health/ready").get_json()["model_version"] == "v1.0.0"


def test_a_broken_new_version_is_refused_and_the_old_one_keeps_serving(
    store_settings: Settings, example_record: dict[str, Any]
) -> None:
    promote(store_settings, "v1.0.0")
    app = create_app(store_settings)
    app.config.update(RETRAIN_TOKEN="operator")
    client = app.test_client()
    assert served_version(client, example_record) == "v1.0.0"
    promote(store_settings, TAMPERED)
    assert served_version(client, example_record) == "v1.0.0"
    metadata = client.get("/metadata").get_json()
    assert metadata["version"] == "v1.0.0"
    assert "refused" in metadata["refused_update"]
    full = client.get("/metadata?full=1", headers={"Authorization": "Bearer operator"})
    assert "sha256" in full.get_json()["refused_update"]  # the reason, for the operator
    promote(store_settings, "v2.0.0")  # the next good promotion goes through
    assert served_version(client, example_record) == "v2.0.0"
    assert "refused_update" not in client.get("/metadata").get_json()


def promote_as(settings: Settings, version: str, by: str, reason: str) -> None:
    """Move prod and append the audit entry, as ``make promote`` does."""
    store = ModelStore(settings.paths.registry)
    entry = {"event": "promote", "at": "2026-12-04T10:12:00+00:00", "by": by, "to": version}
    append_audit(store, {**entry, "from": None, "reason": reason, "forced": False})
    promote(settings, version)


def test_a_worker_restarted_after_refusing_a_broken_swap_serves_the_last_good_version(
    store_settings: Settings, example_record: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    store = ModelStore(store_settings.paths.registry)
    write_pointer(store, Pointer("v1.0.0"))
    client = create_app(store_settings).test_client()
    write_pointer(store, Pointer(TAMPERED, ("v1.0.0",)))  # as make promote moves it
    assert served_version(client, example_record) == "v1.0.0"  # the swap is refused
    with caplog.at_level(logging.ERROR):
        restarted = create_app(store_settings).test_client()
    assert restarted.get("/health/ready").status_code == 200
    assert served_version(restarted, example_record) == "v1.0.0"
    assert "refused" in restarted.get("/metadata").get_json()["refused_update"]
    assert "prod model refused, serving v1.0.0" in caplog.text
    write_pointer(store, Pointer(TAMPERED))  # no earlier prod version: nothing to fall back on
    assert create_app(store_settings).test_client().get("/health/ready").status_code == 503


def test_once_promoted_a_lost_pointer_means_not_ready_never_the_last_trained_model(
    store_settings: Settings, example_record: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    assert store_settings.serving.serve_unpromoted  # the workspace default: it does not matter
    promote_as(store_settings, "v1.0.0", "Bo Chen <bo@example.com>", "first model")
    client = create_app(store_settings).test_client()
    assert served_version(client, example_record) == "v1.0.0"
    ModelStore(store_settings.paths.registry).pointer_path.unlink()  # lost, or unmounted
    assert served_version(client, example_record) == "v1.0.0"  # keeps its vetted model
    with caplog.at_level(logging.ERROR):
        restarted = create_app(store_settings).test_client()
    ready = restarted.get("/health/ready")
    assert ready.status_code == 503
    detail = ready.get_json()["detail"]
    assert "prod pointer" in detail
    assert "is missing" in detail
    assert "records a promote to v1.0.0" in detail
    assert "records a promote to v1.0.0" in caplog.text  # and the server log says so
    assert restarted.post("/predict", json=example_record).status_code == 503


def test_each_swap_and_each_refusal_is_logged_with_who_promoted_and_why(
    store_settings: Settings, example_record: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    promote_as(store_settings, "v1.0.0", "Bo Chen <bo@example.com>", "first model")
    client = create_app(store_settings).test_client()
    caplog.set_level(logging.INFO)
    promote_as(store_settings, "v2.0.0", "Ann Lee <ann@example.com>", "better recall")
    assert served_version(client, example_record) == "v2.0.0"
    swapped = [record.getMessage() for record in caplog.records if "swapped" in record.msg]
    assert swapped == [
        "model swapped: v1.0.0 -> v2.0.0 (v2.0.0, promote by Ann Lee <ann@example.com> "
        "at 2026-12-04T10:12:00+00:00: better recall)"
    ]
    caplog.clear()
    promote_as(store_settings, TAMPERED, "Cy Dee <cy@example.com>", "try the tampered one")
    assert served_version(client, example_record) == "v2.0.0"
    (refused,) = [record for record in caplog.records if "refused" in record.msg]
    assert refused.levelno == logging.ERROR
    message = refused.getMessage()
    assert "v3.0.0, promote by Cy Dee <cy@example.com>" in message
    assert "try the tampered one" in message
    assert "still serving v2.0.0" in message
    assert "sha256" in message  # the reason it was refused
    caplog.clear()
    promote(store_settings, "v1.0.0")  # moved by hand: the newest audit entry is another's
    assert served_version(client, example_record) == "v1.0.0"
    assert "v1.0.0, not (yet) in the store's audit log" in caplog.text
    assert "Bo Chen" not in caplog.text  # v1's first promotion is not this change


def test_the_pointer_is_checked_at_most_once_per_interval(
    store_settings: Settings, example_record: dict[str, Any]
) -> None:
    promote(store_settings, "v1.0.0")
    hourly = store_settings.model_copy(
        update={"serving": store_settings.serving.model_copy(update={"reload_interval": 3600.0})}
    )
    client = create_app(hourly).test_client()
    promote(store_settings, "v2.0.0")
    assert served_version(client, example_record) == "v1.0.0"


def post(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # nosec B310: loopback URL
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def wait_until_serving(
    url: str, server: subprocess.Popen[bytes], body: dict[str, Any], seconds: float = 120
) -> None:
    """Return once the gunicorn ``server`` answers ``body`` at ``url`` with a 200; fail if it
    exits first or takes longer than ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if post(url, body)[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        assert server.poll() is None, "gunicorn exited"
        assert time.monotonic() < deadline, f"gunicorn was not ready in {seconds:g} s"
        time.sleep(0.3)


@pytest.mark.slow
def test_no_request_fails_while_prod_moves_under_load(
    store_settings: Settings,
    example_record: dict[str, Any],
    child_environment: Callable[[Settings], dict[str, str]],
    tmp_path: Path,
) -> None:
    """gunicorn with 2 workers under continuous load; prod moves six times, each logged."""
    promote(store_settings, "v1.0.0")
    server_log = (tmp_path / "gunicorn.log").open("wb")
    port = free_port()
    logged = store_settings.with_paths(prediction_log=tmp_path / "log" / "predictions.jsonl")
    env = {
        **child_environment(logged),  # its log, registry and reports in temporary folders
        f"{ENV_PREFIX}__SERVING__RELOAD_INTERVAL": "0.1",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "GUNICORN_ACCESSLOG": "",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
         "{{ cookiecutter.module_name }}.serving.app:create_app()"],
        cwd=store_settings.root, env=env,
        stdout=subprocess.DEVNULL, stderr=server_log,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/predict"
    results: list[tuple[int, Any]] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            results.append(post(url, example_record))

    try:
        wait_until_serving(url, server, example_record)
        workers = [threading.Thread(target=hammer) for _ in range(4)]
        for worker in workers:
            worker.start()
        for version in ("v2.0.0", "v1.0.0", TAMPERED, "v2.0.0", "v1.0.0", "v2.0.0"):
            time.sleep(1.0)
            promote(store_settings, version)
        time.sleep(1.5)
        stop.set()
        for worker in workers:
            worker.join(timeout=120)
        settled = [post(url, example_record) for _ in range(20)]
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=30)
        server_log.close()
    assert len(results) > 20
    failures = [result for result in results + settled if result[0] != 200]
    assert failures == []
    versions = {body["model_version"] for _, body in results}
    assert versions <= set(GOOD)
    assert versions == set(GOOD), "both versions must have served during the run"
    assert {body["model_version"] for _, body in settled} == {"v2.0.0"}
    text = (tmp_path / "gunicorn.log").read_text(encoding="utf-8")
    assert "model swapped: v2.0.0 -> v1.0.0" in text, text  # each worker logs its swaps
    assert "new prod model refused (v3.0.0" in text, text
