"""POST /retrain and GET /retrain/<id>: token checks, 202 + job id, status, one at a time.

Most tests run a stand-in command that waits for a file, so they control when the job
ends without training; one slow test runs the real pipeline into the job's folder.
"""

from __future__ import annotations

import os
import stat
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from {{ cookiecutter.module_name }}.config import ENV_PREFIX, Settings
from {{ cookiecutter.module_name }}.serving.app import create_app
from {{ cookiecutter.module_name }}.serving.retrain import TOKEN_ENV
from {{ cookiecutter.module_name }}.storage import sha256_file, write_json

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WAIT_FOR_FILE = (
    "import pathlib, sys, time\n"
    "while not pathlib.Path(sys.argv[1]).exists():\n"
    "    time.sleep(0.05)\n"
    "sys.exit(int(sys.argv[2]))"
)


def retrain_app(trained: Settings, folder: Path, command: list[str], keep: int = 5) -> Flask:
    settings = trained.with_paths(retrain_jobs=folder / "jobs")
    serving = settings.serving.model_copy(update={"retrain_jobs_kept": keep})
    app = create_app(settings.model_copy(update={"serving": serving}))
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


def finished_job(jobs: Path, created_at: str) -> str:
    """A job folder as an earlier retrain left it: its status and a copy of the data."""
    job_id = uuid.uuid4().hex
    (jobs / job_id).mkdir(parents=True)
    status = {"job_id": job_id, "status": "succeeded", "created_at": created_at}
    write_json(jobs / job_id / "status.json", status)
    (jobs / job_id / "train_data.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    return job_id


def test_a_new_job_deletes_the_oldest_finished_ones_beyond_the_setting(
    trained: Settings, tmp_path: Path, release: Path
) -> None:
    jobs = tmp_path / "jobs"
    old = [finished_job(jobs, f"2025-01-0{day}T00:00:00+00:00") for day in (3, 1, 5, 2, 4)]
    (jobs / "notes").mkdir()  # not a job: left alone
    command = [sys.executable, "-c", WAIT_FOR_FILE, str(release), "0"]
    client = retrain_app(trained, tmp_path, command, keep=3).test_client()
    job_id = client.post("/retrain", headers=AUTH).get_json()["job_id"]
    remaining = {path.name for path in jobs.iterdir() if path.is_dir()}
    newest = {old[2], old[4]}  # created on the 5th and the 4th
    assert remaining == {*newest, job_id, "notes"}
    assert client.get(f"/retrain/{old[1]}", headers=AUTH).status_code == 404
    release.touch()
    assert wait_for_end(client, job_id)["status"] == "succeeded"


def test_a_jobs_files_are_private_to_the_servers_user_and_group(
    trained: Settings, tmp_path: Path
) -> None:
    variable = f"{ENV_PREFIX}__PATHS__TRAIN_DATA"  # where the job's split writes its data
    write_data = "import os, pathlib, sys; pathlib.Path(os.environ[sys.argv[1]]).write_text('a')"
    client = retrain_app(
        trained, tmp_path, [sys.executable, "-c", write_data, variable]
    ).test_client()
    previous = os.umask(0o022)  # a usual umask: files would be world-readable (0644)
    try:
        job_id = client.post("/retrain", headers=AUTH).get_json()["job_id"]
    finally:
        os.umask(previous)
    finished = wait_for_end(client, job_id)
    assert finished["status"] == "succeeded", finished.get("log_tail")
    folder = tmp_path / "jobs" / job_id
    assert "train_data.csv" in finished["files"]
    for path in [folder, *folder.iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o007 == 0, f"{path.name} is world-readable"
    assert stat.S_IMODE((folder / "train_data.csv").stat().st_mode) in (0o600, 0o640)


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
