"""Retrain jobs that outlive the request: one folder per job, one job at a time.

``POST /retrain`` calls :func:`start_job`, which takes a lock file (so two workers cannot
both start a job), writes ``status.json`` and starts this module as a detached runner:

    python -m {{ cookiecutter.module_name }}.serving.retrain_jobs ROOT JOB_DIR -- COMMAND...

The runner runs the training command with every pipeline output redirected into
JOB_DIR (the served model and DVC's outputs stay untouched: a retrain only makes a
candidate), logs to ``JOB_DIR/train.log``, writes the final status and frees the lock.
Any worker answers ``GET /retrain/<id>`` by reading the status file. The server never
imports the training code; it only names its module on the command line.

A job's folder holds copies of the training data: it is private to the server's user and
group (folder 0750, files 0640 at most), and a new job deletes the oldest finished ones
beyond ``serving.retrain_jobs_kept``, so the folders cannot fill the disk.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from {{ cookiecutter.module_name }}.config import (
    ENV_PREFIX,
    Settings,
    load_settings,
)
from {{ cookiecutter.module_name }}.storage import (
    read_json,
    write_json,
)

TRAINING_COMMAND = ("-m", "{{ cookiecutter.module_name }}.training", "all")
RUNNER = "{{ cookiecutter.module_name }}.serving.retrain_jobs"
LOCK_NAME = "active.lock"
STATUS_NAME = "status.json"
LOG_NAME = "train.log"
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
# A lock whose job has no status yet is being created; older than this, it is stale.
CREATING_GRACE_SECONDS = 30
# Paths a retrain reads and must not redirect: the input data and the jobs folder.
INPUT_PATHS = ("raw_data", "retrain_jobs")
FINISHED = ("succeeded", "failed")
# The runner's umask, inherited by the training command: no file of a job for others.
JOB_UMASK = 0o027
JOB_FOLDER_MODE = 0o750

log = logging.getLogger(__name__)


class JobConflict(RuntimeError):
    """Another retrain job is running; its id is the message."""


def training_command() -> list[str]:
    """The command a retrain runs: the whole pipeline with this interpreter."""
    return [sys.executable, *TRAINING_COMMAND]


def now() -> str:
    """The current UTC time in ISO 8601, for status files."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_status(jobs: Path, job_id: str) -> dict[str, Any] | None:
    """The status of job ``job_id``, or None if there is no such job.

    A job whose runner died without reporting (killed, or it never started) is shown as
    failed, so a client polling it does not wait forever.
    """
    if not JOB_ID.match(job_id):
        return None
    path = jobs / job_id / STATUS_NAME
    if not path.is_file():
        return None
    status = read_json(path)
    if status["status"] not in FINISHED and not _runner_may_be_alive(status, path):
        status.update(
            status="failed", detail=f"the job's runner ended without reporting: see {LOG_NAME}"
        )
    return status


def _runner_may_be_alive(status: dict[str, Any], path: Path) -> bool:
    pid = status.get("pid")
    if pid is None:  # queued: the runner has not written its pid yet
        try:
            return time.time() - path.stat().st_mtime < CREATING_GRACE_SECONDS
        except FileNotFoundError:
            return False
    return _alive(int(pid))


def start_job(jobs: Path, root: Path, command: list[str], keep: int) -> dict[str, Any]:
    """Take the lock, delete the oldest finished jobs so that ``keep`` remain with the new
    one, write the first status and start the runner; raise JobConflict."""
    jobs.mkdir(parents=True, exist_ok=True)
    job_id = uuid.uuid4().hex
    _acquire_lock(jobs, job_id)
    folder = jobs / job_id
    try:
        prune_jobs(jobs, keep - 1)
        folder.mkdir(mode=JOB_FOLDER_MODE)
        status = {"job_id": job_id, "status": "queued", "created_at": now()}
        write_json(folder / STATUS_NAME, status)
        log_file = os.open(folder / LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(log_file, "wb") as train_log:
            runner = subprocess.Popen(
                [sys.executable, "-m", RUNNER, str(root), str(folder), "--", *command],
                cwd=root,
                stdin=subprocess.DEVNULL,
                stdout=train_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a worker restart or Ctrl-C must not kill the job
            )
    except BaseException:
        (jobs / LOCK_NAME).unlink(missing_ok=True)
        raise
    # Reap the runner when it ends so it never lingers as a zombie of this worker.
    threading.Thread(target=runner.wait, daemon=True).start()
    return status


def prune_jobs(jobs: Path, keep: int) -> list[str]:
    """Delete all but the ``keep`` newest finished jobs; return the ids deleted.

    Only finished jobs go: a running one, or a folder that is not a job, stays. Called
    under the lock, so no job starts meanwhile.
    """
    finished = []
    for folder in jobs.iterdir():
        status = read_status(jobs, folder.name) if folder.is_dir() else None
        if status is not None and status["status"] in FINISHED:
            order = (str(status.get("created_at", "")), str(status.get("finished_at", "")))
            finished.append((order, folder.name))
    finished.sort(reverse=True)
    deleted = []
    for _, job_id in finished[keep:]:
        try:
            shutil.rmtree(jobs / job_id)
        except OSError as error:  # a job that cannot be deleted must not stop a retrain
            log.warning("could not delete the old retrain job %s: %s", jobs / job_id, error)
            continue
        deleted.append(job_id)
    return deleted


def _acquire_lock(jobs: Path, job_id: str) -> None:
    """Create the lock file atomically (O_EXCL); clear it first if its job is dead."""
    lock = jobs / LOCK_NAME
    for _ in range(2):
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = lock.read_text(encoding="utf-8").strip() if lock.exists() else ""
            if _is_active(jobs, holder, lock):
                raise JobConflict(holder) from None
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(job_id)
        return
    raise JobConflict("unknown")


def _is_active(jobs: Path, job_id: str, lock: Path) -> bool:
    """Whether the job holding the lock may still be running."""
    status = read_status(jobs, job_id) if job_id else None
    if status is None:  # the lock is taken but the job's folder is not written yet
        try:
            return time.time() - lock.stat().st_mtime < CREATING_GRACE_SECONDS
        except FileNotFoundError:
            return False
    return status["status"] not in FINISHED


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def output_overrides(settings: Settings, folder: Path) -> dict[str, str]:
    """Environment overrides that send every pipeline output into ``folder``."""
    return {
        f"{ENV_PREFIX}__PATHS__{name.upper()}": str(folder / f"{name}{path.suffix}")
        for name, path in settings.paths.model_dump().items()
        if name not in INPUT_PATHS
    }


def run_job(folder: Path, root: Path, command: list[str]) -> int:
    """Run ``command`` as job ``folder``; record running, then succeeded or failed."""
    status_path = folder / STATUS_NAME
    status = read_json(status_path)
    status.update(status="running", pid=os.getpid(), started_at=now())
    write_json(status_path, status)
    returncode = -1
    metrics_file: Path | None = None
    try:
        settings = load_settings()
        metrics_file = folder / f"metrics{settings.paths.metrics.suffix}"
        env = {**os.environ, **output_overrides(settings, folder)}
        sys.stdout.flush()
        returncode = subprocess.run(command, cwd=root, env=env, check=False).returncode
    except Exception as error:  # report any failure in the status, never leave "running"
        print(f"error: {error}", flush=True)
    finally:
        status.update(
            status="succeeded" if returncode == 0 else "failed",
            returncode=returncode,
            finished_at=now(),
            files=sorted(path.name for path in folder.iterdir() if path.name != STATUS_NAME),
        )
        if metrics_file is not None and metrics_file.is_file():
            status["metrics"] = read_json(metrics_file)
        if returncode == 0:  # the registry adopts the candidate (registry/jobs.py)
            status["register_with"] = f"make register JOB={folder.name}"
        if returncode != 0:
            text = (folder / LOG_NAME).read_text(encoding="utf-8", errors="replace")
            status["log_tail"] = text.splitlines()[-20:]
        write_json(status_path, status)
        _release_lock(folder)
    return 0 if returncode == 0 else 1


def _release_lock(folder: Path) -> None:
    lock = folder.parent / LOCK_NAME
    try:
        if lock.read_text(encoding="utf-8").strip() == folder.name:
            lock.unlink()
    except FileNotFoundError:
        pass


def main(argv: list[str] | None = None) -> int:
    """Entry point of the detached runner."""
    parser = argparse.ArgumentParser(prog=f"python -m {RUNNER}")
    parser.add_argument("root", type=Path, help="the project root")
    parser.add_argument("folder", type=Path, help="the job's folder (holds status.json)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    # Never looser than the server's umask; the training command inherits it.
    os.umask(os.umask(JOB_UMASK) | JOB_UMASK)
    return run_job(args.folder, args.root, command)


if __name__ == "__main__":
    sys.exit(main())
