"""DVC remote storage per `dvc_remote` answer: what is committed, and `make push` / `make pull`.

The fast tests read bakes. The slow ones push a trained project's data and models to its
remote (a sibling folder, or S3 emulated by moto on loopback), delete the local copies and
the DVC cache, pull them back and compare hashes. Nothing reaches the real network: the S3
endpoint is 127.0.0.1 and the credentials are fake.
"""

from __future__ import annotations

import configparser
import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.exceptions import EndpointConnectionError
from helpers import DEFAULT_SLUG, TOOLS, bake, expected_tree, free_port, project_files, run

REMOTES = ("local", "s3", "none")
# (botocore too, which the dev set already holds: moto, for the model store on S3, brings it)
S3_PLUGIN = {"dvc-s3", "s3fs", "aiobotocore"}
# What `make pull` must restore: the raw data and every cached pipeline output.
PULLED = ("data/raw/penguins.csv", "data/interim", "data/processed", "models")
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without virtualenv or AWS settings, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VIRTUAL_ENV", "AWS_", "DVC_"))
    }
    return {**env, **extra}


def make(target: str, project: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a make target in a clean environment; return its result, whatever its exit code."""
    return subprocess.run(
        ["make", target],
        cwd=project,
        capture_output=True,
        text=True,
        env=clean_env(**env),
        timeout=300,
        check=False,
    )


def dvc_config(project: Path, name: str = "config") -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read_string((project / ".dvc" / name).read_text(encoding="utf-8"))
    return parser


def pins(lock: Path) -> set[str]:
    """The `name==version ; marker` lines of a hashed lock file."""
    lines = lock.read_text(encoding="utf-8").splitlines()
    return {line.removesuffix(" \\") for line in lines if line[:1].isalnum()}


def snapshot(project: Path) -> dict[str, str]:
    """sha256 of every file `make pull` has to bring back."""
    hashes: dict[str, str] = {}
    for relative in PULLED:
        root = project / relative
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            if path.is_file() and path.name != ".gitignore":
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                hashes[path.relative_to(project).as_posix()] = digest
    return hashes


def wipe(project: Path) -> None:
    """Delete the DVC cache and every pulled file, as on a fresh clone."""
    shutil.rmtree(project / ".dvc/cache")
    for relative in PULLED:
        target = project / relative
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
    assert snapshot(project) == {}


def stored_objects(project: Path) -> set[str]:
    """Where DVC 3 stores each pulled file in a cache or remote: files/md5/<2>/<30>."""
    keys = set()
    for relative in snapshot(project):
        md5 = hashlib.md5((project / relative).read_bytes()).hexdigest()
        keys.add(f"files/md5/{md5[:2]}/{md5[2:]}")
    return keys


@pytest.fixture(scope="module")
def bakes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One bake per dvc_remote answer, read-only."""
    return {remote: bake(tmp_path_factory.mktemp(remote), dvc_remote=remote) for remote in REMOTES}


@pytest.mark.parametrize("remote", REMOTES)
def test_each_remote_bakes_the_exact_tree(bakes: dict[str, Path], remote: str) -> None:
    assert project_files(bakes[remote]) == expected_tree(s3=remote == "s3")


def test_local_remote_is_a_folder_beside_the_project(bakes: dict[str, Path]) -> None:
    project = bakes["local"]
    config = dvc_config(project)
    assert config["core"]["remote"] == "storage"
    url = config["'remote \"storage\"'"]["url"]
    # DVC resolves a relative url against .dvc/: the folder must be outside the repository.
    assert (project / ".dvc" / url).resolve() == (
        project.parent.resolve() / f"{DEFAULT_SLUG}-dvc-storage"
    )


@pytest.mark.parametrize("remote", ["s3", "none"])
def test_no_remote_or_secret_is_committed(bakes: dict[str, Path], remote: str) -> None:
    config = dvc_config(bakes[remote])
    assert config.sections() == ["core"]
    assert "remote" not in config["core"]
    assert "s3://" not in (bakes[remote] / ".dvc/config").read_text(encoding="utf-8")
    assert "/config.local" in (bakes[remote] / ".dvc/.gitignore").read_text(encoding="utf-8")


def test_s3_lock_is_the_dev_lock_plus_the_plugin(bakes: dict[str, Path]) -> None:
    requirements = bakes["s3"] / "requirements"
    dev, s3 = pins(requirements / "dev.txt"), pins(requirements / "s3.txt")
    assert dev < s3, "s3.txt must keep every pin of dev.txt"
    added = {line.split("==")[0] for line in s3 - dev}
    assert added >= S3_PLUGIN
    serve = {line.split("==")[0] for line in pins(requirements / "serve.txt")}
    assert not serve & S3_PLUGIN, "serving must not install DVC's S3 plugin"
    makefile = (bakes["s3"] / "Makefile").read_text(encoding="utf-8")
    assert "LOCKS := serve train dev s3 store-s3 uv" in makefile
    assert "DEV_LOCK := requirements/s3.txt" in makefile


@pytest.mark.parametrize("remote", REMOTES)
def test_make_help_lists_push_and_pull(bakes: dict[str, Path], remote: str) -> None:
    output = re.sub(r"\x1b\[[0-9;]*m", "", run(["make", "help"], bakes[remote]).stdout)
    targets = {line.split()[0] for line in output.splitlines() if line.startswith("  ")}
    assert {"push", "pull"} <= targets
    assert ("s3-remote" in targets) == (remote == "s3")


@pytest.mark.parametrize("target", ["push", "pull"])
def test_s3_targets_name_a_missing_or_bad_url(bakes: dict[str, Path], target: str) -> None:
    missing = make(target, bakes["s3"])
    assert missing.returncode != 0
    assert "DVC_S3_URL is not set" in missing.stderr
    bad = make(target, bakes["s3"], DVC_S3_URL="https://bucket.example/prefix")
    assert bad.returncode != 0
    assert "DVC_S3_URL must look like s3://" in bad.stderr
    assert not (bakes["s3"] / ".dvc/config.local").exists()


def test_ci_passes_the_variables_the_makefile_reads(bakes: dict[str, Path]) -> None:
    workflow = yaml.safe_load(
        (bakes["s3"] / ".github/workflows/ci.yml").read_text(encoding="utf-8")
    )
    steps = workflow["jobs"]["pipeline"]["steps"]
    pull = next(step for step in steps if step.get("run") == "make pull")
    assert set(pull["env"]) == {
        "DVC_S3_URL",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    }
    makefile = (bakes["s3"] / "Makefile").read_text(encoding="utf-8")
    assert "$$DVC_S3_URL" in makefile
    assert "$$AWS_ENDPOINT_URL" in makefile


# --- slow: real pushes and pulls -------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """An S3 emulator (moto) on a free loopback port, for this module's tests."""
    port = free_port()
    process = subprocess.Popen(
        [str(TOOLS / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        client = boto3.client("s3", endpoint_url=endpoint, **s3_credentials())
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode()[-3000:]
            try:
                client.list_buckets()
                break
            except EndpointConnectionError:
                if time.monotonic() > deadline:
                    pytest.fail("moto_server did not answer in 60 s")
                time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=30)


def s3_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": FAKE_AWS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        "region_name": FAKE_AWS["AWS_DEFAULT_REGION"],
    }


@pytest.fixture(scope="module")
def aws_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Fake credentials, and empty AWS config files so that no real profile is read."""
    folder = tmp_path_factory.mktemp("aws")
    for name in ("config", "credentials"):
        (folder / name).write_text("", encoding="utf-8")
    return {
        **FAKE_AWS,
        "AWS_CONFIG_FILE": str(folder / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(folder / "credentials"),
    }


@pytest.fixture(scope="module")
def s3_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dvc_remote=s3 bake, set up (with dvc-s3) and trained."""
    project = bake(tmp_path_factory.mktemp("s3"), dvc_remote="s3")
    run(["make", "setup"], project)
    run(["make", "train"], project)
    return project


@pytest.mark.slow
def test_s3_push_wipe_pull_gives_identical_files(
    s3_project: Path, moto_endpoint: str, aws_env: dict[str, str]
) -> None:
    bucket, prefix = "team-data", "penguins"
    client = boto3.client("s3", endpoint_url=moto_endpoint, **s3_credentials())
    client.create_bucket(Bucket=bucket)
    env = clean_env(DVC_S3_URL=f"s3://{bucket}/{prefix}", AWS_ENDPOINT_URL=moto_endpoint, **aws_env)
    before = snapshot(s3_project)
    # raw data, clean, train, test, model, its ONNX copy, the reference profile, metadata
    assert len(before) == 8, before
    expected = stored_objects(s3_project)

    run(["make", "push"], s3_project, env=env)
    listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/")
    assert {item["Key"].removeprefix(f"{prefix}/") for item in listed["Contents"]} == expected
    # The bucket and endpoint live in the git-ignored config.local; credentials nowhere.
    assert "s3://" not in (s3_project / ".dvc/config").read_text(encoding="utf-8")
    local = dvc_config(s3_project, "config.local")["'remote \"storage\"'"]
    assert dict(local) == {"url": f"s3://{bucket}/{prefix}", "endpointurl": moto_endpoint}
    run(["git", "check-ignore", "--quiet", ".dvc/config.local"], s3_project)

    wipe(s3_project)
    setup = run(["make", "setup"], s3_project)  # as on a fresh clone: the data is not here
    assert "data/raw/penguins.csv is not here yet: make pull" in setup.stderr
    run(["make", "pull"], s3_project, env=env)
    assert snapshot(s3_project) == before
    assert "Data and pipelines are up to date." in run(["make", "train"], s3_project).stdout


@pytest.mark.slow
def test_local_push_wipe_pull_gives_identical_files(project: Path) -> None:
    """The default answer (local): a folder beside the project. Uses the shared e2e bake."""
    storage = project.parent / f"{DEFAULT_SLUG}-dvc-storage"
    before = snapshot(project)
    expected = stored_objects(project)
    run(["make", "push"], project)
    stored = {path.relative_to(storage).as_posix() for path in storage.rglob("*") if path.is_file()}
    assert stored == expected
    wipe(project)
    run(["make", "pull"], project)
    assert snapshot(project) == before
    assert "Data and pipelines are up to date." in run(["make", "train"], project).stdout


@pytest.mark.slow
def test_no_remote_push_refuses_and_pull_restores_only_from_the_cache(
    project: Path, tmp_path: Path
) -> None:
    """dvc_remote=none, with the shared e2e bake's tools on PATH (no second install)."""
    bare = bake(tmp_path, dvc_remote="none")
    run(["git", "init", "--quiet"], bare)
    tools = {"PATH": f"{project / '.venv/bin'}{os.pathsep}{os.environ['PATH']}"}
    push = make("push", bare, **tools)
    assert push.returncode != 0
    assert "No DVC remote is set" in push.stderr
    assert "dvc remote add --default storage" in push.stderr
    pulled = make("pull", bare, **tools)  # the bundled sample is here: nothing to fetch
    assert pulled.returncode == 0, pulled.stderr
    (bare / "data/raw/penguins.csv").unlink()
    missing = make("pull", bare, **tools)
    assert missing.returncode != 0
    assert "data/raw/penguins.csv" in missing.stderr
    assert "No DVC remote is set" in missing.stderr
