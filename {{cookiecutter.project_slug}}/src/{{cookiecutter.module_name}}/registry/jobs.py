"""``make register JOB=<id>``: register the candidate a ``POST /retrain`` job trained.

A job trains into its own folder (``paths.retrain_jobs/<id>``) so the served model and the
workspace stay as they were. A version, though, must name the commit whose ``dvc.lock``
reproduces it. So this adopts the job: it checks that the job ran on this very commit
(clean tree) and data, copies the job's outputs to the pipeline's paths, records them in
``dvc.lock`` with ``dvc commit``, commits the pipeline's records (and nothing else: it
refuses if other tracked files have changes) and registers, as ``make register`` does.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from {{ cookiecutter.module_name }}.config import (
    Settings,
)
from {{ cookiecutter.module_name }}.registry import (
    commands,
    records,
)
from {{ cookiecutter.module_name }}.registry.lineage import (
    RegistryError,
    head_commit,
)
from {{ cookiecutter.module_name }}.storage import (
    md5_file,
    read_json,
    write_json,
)

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
STATUS_NAME = "status.json"
# Paths a job reads rather than writes (serving/retrain_jobs.py does not redirect them).
INPUT_PATHS = ("raw_data", "retrain_jobs")


def job_folder(settings: Settings, job_id: str) -> Path:
    """The folder of a finished, successful job; RegistryError saying why not."""
    folder = settings.paths.retrain_jobs / job_id
    if not JOB_ID.match(job_id) or not (folder / STATUS_NAME).is_file():
        raise RegistryError(
            f"no retrain job {job_id!r} in {settings.paths.retrain_jobs}: use the job_id "
            "POST /retrain answered (jobs beyond serving.retrain_jobs_kept are deleted)"
        )
    status = read_json(folder / STATUS_NAME)
    if status.get("status") != "succeeded":
        raise RegistryError(
            f"retrain job {job_id} is {status.get('status')!r}, not 'succeeded': only a "
            f"finished job's candidate can be registered (GET /retrain/{job_id} says why)"
        )
    return folder


def job_outputs(settings: Settings, folder: Path) -> dict[Path, Path]:
    """job file -> the pipeline path it stands for (the job names each ``name + suffix``)."""
    found = {}
    for name, path in settings.paths.model_dump().items():
        job_file = folder / f"{name}{Path(path).suffix}"
        if name not in INPUT_PATHS and job_file.is_file():
            found[job_file] = Path(path)
    return found


def check_same_inputs(settings: Settings, job_id: str, metadata: dict[str, Any]) -> None:
    """The job must have trained on this checkout's commit (clean) and raw data."""
    source = metadata.get("source", {})
    head = head_commit(settings.root)
    trained_on = str(source.get("git_commit") or "no commit")
    if trained_on != head or source.get("git_dirty"):
        changes = "uncommitted changes on " if source.get("git_dirty") else ""
        raise RegistryError(
            f"retrain job {job_id} trained on {changes}{trained_on[:12]}, but this checkout "
            f"is at {head[:12]}: no commit reproduces its model here. Check out that commit "
            "(with a clean tree) and run this again, or retrain here with make retrain"
        )
    expected = source.get("data_md5") or {}
    if list(expected.values()) != [md5_file(settings.paths.raw_data)]:
        raise RegistryError(
            f"retrain job {job_id} trained on other raw data than {settings.paths.raw_data} "
            "holds now: retrain with make retrain"
        )


def workspace_names(metadata: dict[str, Any], renamed: dict[str, str]) -> dict[str, Any]:
    """The metadata with the files it names (artifact, ONNX copy, profile) as the pipeline
    names them: the job named each after its path's key (``onnx_model.onnx``)."""
    return {
        key: {**entry, "file": renamed.get(str(entry["file"]), entry["file"])}
        if isinstance(entry, dict) and "file" in entry
        else entry
        for key, entry in metadata.items()
    }


def dvc_commit(root: Path) -> None:
    """Record the copied outputs in dvc.lock (this virtualenv's dvc first on PATH)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    result = subprocess.run(
        ["dvc", "commit", "--force", "--quiet"],
        cwd=root,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RegistryError(f"dvc commit failed: {(result.stderr or result.stdout).strip()}")


def register_job(settings: Settings, job_id: str, say: commands.Say = print) -> str:
    """Adopt job ``job_id``'s candidate into the workspace, commit its records, register."""
    folder = job_folder(settings, job_id)
    outputs = job_outputs(settings, folder)
    metadata_file = next((f for f, p in outputs.items() if p == settings.paths.metadata), None)
    if metadata_file is None or settings.paths.model not in outputs.values():
        raise RegistryError(f"retrain job {job_id} holds no model and metadata in {folder}")
    check_same_inputs(settings, job_id, read_json(metadata_file))
    records.require_clean_tree(settings)
    for job_file, path in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.job")
        shutil.copy2(job_file, temporary)
        os.replace(temporary, path)
    renamed = {job_file.name: path.name for job_file, path in outputs.items()}
    write_json(
        settings.paths.metadata, workspace_names(read_json(settings.paths.metadata), renamed)
    )
    dvc_commit(settings.root)
    if records.commit_records(settings, f"Register the candidate of retrain job {job_id}"):
        say(f"Committed the pipeline's records of retrain job {job_id}.")
    return commands.register(settings, say=say)
