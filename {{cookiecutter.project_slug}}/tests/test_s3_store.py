"""A model store replicas share on S3: moto's S3 server on 127.0.0.1 stands in for AWS.

The store is written with the registry's own writers (export, conditional pointer,
audit), exactly as ``make register``, ``make promote`` and ``make rollback`` write it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.module_name }}.config import (
    ENV_PREFIX,
    Settings,
    load_settings,
)
from {{ cookiecutter.module_name }}.prediction.store import ModelStore, Pointer
from {{ cookiecutter.module_name }}.registry import commands, listing
from {{ cookiecutter.module_name }}.registry.lineage import RegistryError
from {{ cookiecutter.module_name }}.registry.publish import (
    append_audit,
    export_version,
    write_pointer,
)
from {{ cookiecutter.module_name }}.serving.__main__ import free_port
from {{ cookiecutter.module_name }}.serving.app import create_app
from {{ cookiecutter.module_name }}.storage import read_json

pytest.importorskip("moto", reason="moto (requirements/dev.in) runs the local S3 server")
boto3 = pytest.importorskip("boto3", reason="boto3: make setup-store-s3")

APP = "{{ cookiecutter.module_name }}.serving.app:create_app()"
BUCKET = "model-store"
GOOD = ("v1.0.0", "v2.0.0")
TAMPERED = "v3.0.0"
AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """A local S3 server with an empty bucket; its endpoint URL (in this process's env)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per S3 call
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {name: os.environ.get(name) for name in [*AWS, "AWS_ENDPOINT_URL"]}
    os.environ.update({**AWS, "AWS_ENDPOINT_URL": endpoint})
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    try:
        yield endpoint
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


def on_s3(settings: Settings, url: str, cache: Path, interval: float = 0.0) -> Settings:
    """``settings`` whose store is ``url``, mirrored in ``cache`` (one machine's copy)."""
    paths = type(settings.paths).model_validate(
        {**settings.paths.model_dump(), "registry": url, "registry_cache": cache}
    )
    serving = settings.serving.model_copy(update={"reload_interval": interval})
    return settings.model_copy(update={"paths": paths, "serving": serving})


@pytest.fixture
def store_url(s3: str, request: pytest.FixtureRequest) -> str:
    """A fresh prefix of the bucket for each test."""
    return f"s3://{BUCKET}/{request.node.name.replace('[', '-').rstrip(']')}"


def fill(trained: Settings, url: str, admin: Path) -> ModelStore:
    """Register two good versions and one whose artifact was tampered with in S3."""
    store = ModelStore.from_settings(on_s3(trained, url, admin))
    metadata = read_json(trained.paths.metadata)
    for version in (*GOOD, TAMPERED):
        export_version(store, version, trained.paths.model, {**metadata, "version": version})
    key = f"{url.removeprefix(f's3://{BUCKET}/')}/versions/{TAMPERED}/{Path(trained.paths.model).name}"
    client = boto3.client("s3")
    data = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    client.put_object(Bucket=BUCKET, Key=key, Body=data + b"tampered")
    return store


def move(store: ModelStore, version: str, event: str = "promote") -> None:
    """What make promote / make rollback write: the pointer, then the audit entry."""
    store.sync(every_version=True)  # the registry decides from the store as it is now
    current = store.read_pointer()
    history = (*current.history, current.version) if current else ()
    if event == "rollback" and current:
        history = current.history[:-1]
    write_pointer(store, Pointer(version, history))
    append_audit(store, {"event": event, "to": version, "by": "test", "reason": event})


def served(client: Any, example: dict[str, Any]) -> str:
    response = client.post("/predict", json=example)
    assert response.status_code == 200, response.get_json()
    return str(response.get_json()["model_version"])


def test_a_registry_url_keeps_the_url_and_reads_through_this_machines_mirror(
    settings: Settings,
) -> None:
    variable = f"{ENV_PREFIX}__PATHS__REGISTRY"
    loaded = load_settings(environ={variable: "s3://bucket/team/models/"})
    assert loaded.paths.registry_url == "s3://bucket/team/models"
    assert loaded.paths.registry == loaded.paths.registry_cache
    assert loaded.paths.registry_cache.is_absolute()
    assert settings.paths.registry_url is None  # a folder, by default


def test_servers_on_two_machines_follow_one_pointer_and_refuse_a_tampered_version(
    trained: Settings, store_url: str, tmp_path: Path, example_record: dict[str, Any]
) -> None:
    admin = fill(trained, store_url, tmp_path / "admin")
    move(admin, "v1.0.0")
    machines = [on_s3(trained, store_url, tmp_path / name) for name in ("a", "b")]
    apps = [create_app(machine) for machine in machines]
    clients = [app.test_client() for app in apps]
    assert [served(client, example_record) for client in clients] == ["v1.0.0"] * 2

    move(admin, TAMPERED)
    assert [served(client, example_record) for client in clients] == ["v1.0.0"] * 2
    for app in apps:  # each machine checked the files it copied, and said why it refused
        assert "sha256" in app.extensions["swap_error"], app.extensions["swap_error"]

    move(admin, "v2.0.0")
    assert [served(client, example_record) for client in clients] == ["v2.0.0"] * 2
    move(admin, "v1.0.0", "rollback")
    assert [served(client, example_record) for client in clients] == ["v1.0.0"] * 2
    for machine in machines:  # each machine verified its own copy
        assert (machine.paths.registry_cache / "versions" / "v2.0.0" / "metadata.json").is_file()


def test_a_promotion_decided_on_a_stale_pointer_is_refused_and_changes_nothing(
    trained: Settings, store_url: str, tmp_path: Path
) -> None:
    first = fill(trained, store_url, tmp_path / "first")
    move(first, "v1.0.0")
    second = ModelStore.from_settings(on_s3(trained, store_url, tmp_path / "second"))
    second.sync(every_version=True)  # decides from v1.0.0 ...
    move(first, "v2.0.0")  # ... while another machine promotes v2.0.0
    with pytest.raises(RegistryError, match=r"moved .* by someone else"):
        write_pointer(second, Pointer(TAMPERED, ("v1.0.0",)))
    third = ModelStore.from_settings(on_s3(trained, store_url, tmp_path / "third"))
    third.sync()
    assert third.read_pointer() == Pointer("v2.0.0", ("v1.0.0",))
    assert third.last_change() == {
        "event": "promote",
        "to": "v2.0.0",
        "by": "test",
        "reason": "promote",
    }


def test_register_promote_and_rollback_write_the_store_on_s3(
    store_url: str, tmp_path: Path, settings: Settings
) -> None:
    """The registry's commands, unchanged, on a store in S3: what make register, make
    promote and make rollback do there (test_registry.py's project: v1 and a stump v2)."""
    from test_registry import Project, cache_outputs, quiet, yes

    project = Project(tmp_path / "project", settings)
    project.params["paths"] = {**project.params["paths"], "registry": store_url}
    project.train()
    cache_outputs(project)
    project.commit("Train v1")
    assert project.settings.paths.registry_url == store_url
    assert commands.register(project.settings, say=quiet) == "v1.0.0"
    assert commands.promote(project.settings, "v1", yes, say=quiet)
    project.params["evaluate"] = {**project.params["evaluate"], "min_improvement": 0}
    project.train(estimator="sklearn.dummy.DummyClassifier", params={})
    cache_outputs(project)
    project.commit("Train a dummy")
    assert commands.register(project.settings, say=quiet) == "v2.0.0"
    assert commands.promote(project.settings, "v2", yes, force="test", say=quiet)
    assert commands.rollback(project.settings, yes, reason="back", say=quiet)

    elsewhere = ModelStore.from_settings(on_s3(settings, store_url, tmp_path / "elsewhere"))
    elsewhere.sync(every_version=True)
    pointer = elsewhere.read_pointer()
    assert pointer is not None
    assert (pointer.version, pointer.history) == ("v1.0.0", ())
    assert set(pointer.vetted) == {"v1.0.0"}  # the hashes its promotion vouched for
    assert (elsewhere.last_change() or {})["event"] == "rollback"
    assert {path.name for path in (elsewhere.root / "versions").iterdir()} == set(GOOD)
    lines = "\n".join(listing.render(project.settings))
    assert "v1.0.0" in lines
    assert "v2.0.0" in lines


@pytest.mark.slow
def test_two_gunicorn_servers_on_one_s3_store_swap_together_with_no_failed_request(
    trained: Settings,
    store_url: str,
    example_record: dict[str, Any],
    child_environment: Callable[[Settings], dict[str, str]],
    tmp_path: Path,
) -> None:
    """Two servers (two machines: each its own mirror), continuous load on both; prod is
    promoted then rolled back; every request answers 200 and both follow each move."""
    from test_swaps import post, wait_until_serving

    admin = fill(trained, store_url, tmp_path / "admin")
    move(admin, "v1.0.0")
    servers, urls, logs = [], [], []
    for name in ("a", "b"):
        port = free_port()
        machine = on_s3(trained, store_url, tmp_path / name).with_paths(
            prediction_log=tmp_path / name / "predictions.jsonl"
        )
        env = {
            **child_environment(machine),
            f"{ENV_PREFIX}__PATHS__REGISTRY": store_url,
            f"{ENV_PREFIX}__PATHS__REGISTRY_CACHE": str(tmp_path / name / "mirror"),
            f"{ENV_PREFIX}__SERVING__RELOAD_INTERVAL": "0.2",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "WEB_CONCURRENCY": "1",
            "GUNICORN_ACCESSLOG": "",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / name / "metrics"),
        }
        logs.append((tmp_path / f"{name}.log").open("wb"))
        command = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", APP]
        servers.append(
            subprocess.Popen(
                command, cwd=trained.root, env=env, stdout=subprocess.DEVNULL, stderr=logs[-1]
            )
        )
        urls.append(f"http://127.0.0.1:{port}/predict")
    results: dict[str, list[tuple[int, Any]]] = {url: [] for url in urls}
    stop = threading.Event()

    def hammer(url: str) -> None:
        while not stop.is_set():
            results[url].append(post(url, example_record))

    def versions_now() -> list[str]:
        return [post(url, example_record)[1]["model_version"] for url in urls]

    try:
        for url, server in zip(urls, servers, strict=True):
            wait_until_serving(url, server, example_record)
        clients = [threading.Thread(target=hammer, args=(url,)) for url in urls]
        for client in clients:
            client.start()
        seen = []
        for version, event in (("v2.0.0", "promote"), ("v1.0.0", "rollback")):
            move(admin, version, event)
            until = time.monotonic() + 30
            while versions_now() != [version, version]:
                assert time.monotonic() < until, f"the servers did not both reach {version}"
                time.sleep(0.1)
            seen.append(version)
            time.sleep(0.5)
        stop.set()
        for client in clients:
            client.join(timeout=120)
    finally:
        stop.set()
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        for log in logs:
            log.close()
    assert seen == ["v2.0.0", "v1.0.0"]
    for url in urls:
        assert len(results[url]) > 5, url
        assert [result for result in results[url] if result[0] != 200] == []
        assert {body["model_version"] for _, body in results[url]} == set(GOOD), url
    for name in ("a", "b"):
        text = (tmp_path / f"{name}.log").read_text(encoding="utf-8")
        assert "model swapped: v1.0.0 -> v2.0.0" in text, text
        assert "model swapped: v2.0.0 -> v1.0.0" in text, text
