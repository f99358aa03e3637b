"""POST /retrain and GET /retrain/<id>: token checks, 202 + job id, status, one at a time.

Most tests run a stand-in command that waits for a file, so they control when the job
ends without training; one slow test runs the real pipeline into the job's folder.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.serving.app import create_app
from {{ cookiecutter.module_name }}.serving.retrain import TOKEN_ENV
from {{ cookiecutter.module_name }}.storage import sha256_file

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WAIT_FOR_FILE = (
    "import pathlib, sys, time\n"
    "while not pathlib.Path(sys.argv[1]).exists():\n"
    "    time.sleep(0.05)\n"
    "sys.exit(int(sys.argv[2]))"
)


def retrain_app(trained: Settings, folder: Path, command: list[str]) -> Flask:
    app = create_app(trained.with_paths(retrain_jobs=folder / "jobs"))
    app.config.update(RETRAIN_TOKEN=TOKEN, RETRAIN_COMMAND=command)
    return app


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """Create this file to let the stand-in job finish."""
    return tmp_path / "release"


@pytest.fixture
def retrain_client(trained: Settings, tmp_path: Path, release: Path) -> FlaskClient:
    command = [sys.executable, "-c", WAIT_FOR_FILE, str(release), "0"]
    return retrain_app(trained, tmp_path, command).test_client()


def wait_for_end(client: FlaskClient, job_id: str, seconds: float = 120) -> dict[str, Any]:
    """Poll the job's status until it has finished (a bound, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = client.get(f"/retrain/{job_id}", headers=AUTH).get_json()
        if status["status"] in ("succeeded", "failed"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {seconds} s: {status}")


def test_disabled_without_a_token(
    trained: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    client = create_app(trained.with_paths(retrain_jobs=tmp_path)).test_client()
    response = client.post("/retrain", headers=AUTH)
    assert response.status_code == 404
    assert response.get_json()["error"] == "retrain_disabled"
    assert TOKEN_ENV in response.get_json()["detail"]
    assert not list(tmp_path.iterdir())


def test_token_comes_from_the_environment(
    trained: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    client = create_app(trained.with_paths(retrain_jobs=tmp_path)).test_client()
    assert client.get(f"/retrain/{'0' * 32}", headers=AUTH).status_code == 404
    assert client.get(f"/retrain/{'0' * 32}").status_code == 401


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": f"Basic {TOKEN}"}, 401),
        ({"Authorization": "Bearer "}, 401),
        ({"Authorization": "Bearer wrong"}, 403),
        ({"Authorization": f"Bearer {TOKEN}x"}, 403),
    ],
)
def test_without_the_right_token_nothing_starts(
    retrain_client: FlaskClient, tmp_path: Path, headers: dict[str, str], status: int
) -> None:
    response = retrain_client.post("/retrain", headers=headers)
    assert response.status_code == status
    assert set(response.get_json()) == {"error", "detail"}
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert not (tmp_path / "jobs").exists()


def test_a_job_starts_reports_and_blocks_a_second_one(
    retrain_client: FlaskClient, release: Path
) -> None:
    started = retrain_client.post("/retrain", headers=AUTH)
    assert started.status_code == 202
    job = started.get_json()
    assert job["status"] == "queued"
    assert started.headers["Location"] == f"/retrain/{job['job_id']}" == job["status_url"]

    running = retrain_client.get(job["status_url"], headers=AUTH).get_json()
    assert running["status"] in ("queued", "running")
    second = retrain_client.post("/retrain", headers=AUTH)
    assert second.status_code == 409
    assert job["job_id"] in second.get_json()["detail"]

    release.touch()
    finished = wait_for_end(retrain_client, job["job_id"])
    assert finished["status"] == "succeeded"
    assert finished["returncode"] == 0
    # The lock is released: the next retrain may start.
    assert retrain_client.post("/retrain", headers=AUTH).status_code == 202


def test_a_failing_job_reports_its_log(trained: Settings, tmp_path: Path, release: Path) -> None:
    release.touch()
    command = [sys.executable, "-c", "import sys; print('boom: bad data'); sys.exit(3)"]
    client = retrain_app(trained, tmp_path, command).test_client()
    job_id = client.post("/retrain", headers=AUTH).get_json()["job_id"]
    finished = wait_for_end(client, job_id)
    assert finished["status"] == "failed"
    assert finished["returncode"] == 3
    assert "boom: bad data" in finished["log_tail"]


@pytest.mark.parametrize("job_id", ["0" * 32, "not-a-job", "..%2F..%2Fetc"])
def test_unknown_job_is_404(retrain_client: FlaskClient, job_id: str) -> None:
    response = retrain_client.get(f"/retrain/{job_id}", headers=AUTH)
    assert response.status_code == 404
    assert set(response.get_json()) == {"error", "detail"}


@pytest.mark.slow
def test_retrain_trains_a_candidate_and_leaves_the_served_model_alone(
    trained: Settings, tmp_path: Path
) -> None:
    served_hash = sha256_file(trained.paths.model)
    app = create_app(trained.with_paths(retrain_jobs=tmp_path / "jobs"))
    app.config.update(RETRAIN_TOKEN=TOKEN)  # the default command: the whole pipeline
    client = app.test_client()
    job_id = client.post("/retrain", headers=AUTH).get_json()["job_id"]
    finished = wait_for_end(client, job_id)
    assert finished["status"] == "succeeded", finished.get("log_tail")
    assert finished["metrics"]["gate"]["passed"] is True
    folder = tmp_path / "jobs" / job_id
    for name in ("model", "metadata"):
        suffix = getattr(trained.paths, name).suffix
        assert (folder / f"{name}{suffix}").is_file()
        assert f"{name}{suffix}" in finished["files"]
    assert sha256_file(trained.paths.model) == served_hash
