"""The serving image, rehearsed without a container engine (none exists on this machine).

Slow: it replays the Dockerfile against the shared trained project: the build stage's
hash-checked install of the serve requirements into a fresh virtualenv, the runtime
stage's COPY instructions through the .dockerignore rules, its ENV, its CMD (gunicorn)
and its HEALTHCHECK command, then a real prediction. The jobs stage (`--target jobs`, the
Kubernetes CronJobs' image) is read, not rehearsed: test_kubernetes.py checks it against
the CronJobs. hadolint runs in test_options.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from dockerfile import Stage, context_files, parse
from helpers import DEFAULT_MODULE, free_port, run

pytestmark = pytest.mark.slow


def host_path(root: Path, container_path: str, workdir: str) -> Path:
    """Where a path inside the rehearsed image lives on this machine."""
    absolute = container_path if container_path.startswith("/") else f"{workdir}/{container_path}"
    return root / absolute.lstrip("/")


def docker_copy(
    context: set[str], source: str, destination: str, target: Path
) -> list[tuple[str, Path]]:
    """(context file, where it lands) for one COPY source, with Docker's rules: a file
    goes into a destination ending in '/' by name, else to the destination itself; a
    folder's contents go into the destination."""
    if source in context:
        return [(source, target / Path(source).name if destination.endswith("/") else target)]
    folder = source.rstrip("/") + "/"
    inside = sorted(path for path in context if path.startswith(folder))
    assert inside, f"COPY {source}: nothing in the build context (see .dockerignore)"
    return [(path, target / path[len(folder) :]) for path in inside]


@pytest.fixture(scope="module")
def stages(project: Path) -> tuple[Stage, Stage]:
    """The serving image's stages: build, and runtime, the last (`docker build`'s target)."""
    named = {stage.name: stage for stage in parse(project / "Dockerfile")}
    assert list(named) == ["build", "jobs", "runtime"]
    return named["build"], named["runtime"]


def test_jobs_stage_installs_the_setup_lock_with_git_and_make_as_a_user(project: Path) -> None:
    """`docker build --target jobs`: the image of deploy/kubernetes's CronJobs (validated
    with them in test_kubernetes.py). It copies only the lock make setup installs, which
    the build context lets in, and takes none of the project's code or models."""
    jobs = {stage.name: stage for stage in parse(project / "Dockerfile")}["jobs"]
    assert jobs.copies() == [(["requirements/dev.txt"], "requirements/")]
    assert "requirements/dev.txt" in context_files(project)
    assert not [args for args in jobs.all("COPY") if "--from" in args]
    apt, install, user = jobs.all("RUN")
    assert "apt-get install -y --no-install-recommends git make" in apt
    assert "--require-hashes --no-deps -r requirements/dev.txt" in install
    assert "sha256sum requirements/*.txt > requirements.sha256" in install
    assert "--uid 10001" in user
    assert jobs.all("USER") == ["10001:10001"]
    assert jobs.env()["PATH"].startswith("/opt/venv/bin:")


@pytest.fixture(scope="module")
def image(project: Path, stages: tuple[Stage, Stage], tmp_path_factory: pytest.TempPathFactory):
    """A folder laid out like the runtime image's file system."""
    build, runtime = stages
    root = tmp_path_factory.mktemp("image")
    # Build stage: the serve lock, installed with hashes required, into /opt/venv (and
    # boto3's lock only with --build-arg STORE=s3: not rehearsed here).
    assert build.copies() == [(["requirements/serve.txt", "requirements/store-s3.txt"], "/tmp/")]
    (install,) = build.all("RUN")
    assert "--require-hashes" in install
    assert "-r /tmp/serve.txt" in install
    assert 'if [ "$STORE" = s3 ]; then' in install
    venv = root / "opt/venv"
    run(["python3", "-m", "venv", str(venv)], root)
    run(
        [
            str(project / ".venv/bin/uv"),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin/python"),
            "--require-hashes",
            "--no-deps",
            "-r",
            str(project / "requirements/serve.txt"),
        ],
        root,
    )
    # Runtime stage: only what the build context lets in.
    context = set(context_files(project))
    (workdir,) = runtime.all("WORKDIR")
    for sources, destination in runtime.copies():
        target = host_path(root, destination, workdir)
        for source in sources:
            for relative, copy_to in docker_copy(context, source, destination, target):
                copy_to.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(project / relative, copy_to)
    return root


@pytest.fixture(scope="module")
def image_env(image: Path, stages: tuple[Stage, Stage]) -> dict[str, str]:
    _, runtime = stages
    (workdir,) = runtime.all("WORKDIR")
    env = {"HOME": str(image / "home"), "PATH": os.environ["PATH"]}
    for key, value in runtime.env().items():
        value = value.replace("$PATH", os.environ["PATH"])
        for folder in ("/opt/venv", workdir):
            value = value.replace(folder, str(image / folder.lstrip("/")))
        env[key] = value
    return env


def test_image_leaves_training_and_secrets_out(project: Path, image: Path, stages) -> None:
    _, runtime = stages
    context = context_files(project)
    assert not [f for f in context if f.startswith((".git/", ".venv/", "data/", "tests/"))]
    assert not [f for f in context if f"/{DEFAULT_MODULE}/training/" in f]
    (user,) = runtime.all("USER")
    uid = user.split(":")[0]
    assert uid.isdigit(), "a numeric user id resolves on any host"
    assert int(uid) != 0, "the image must not run as root"
    assert not (image / f"app/src/{DEFAULT_MODULE}/training").exists()


def test_image_env_has_no_training_dependencies(image: Path, image_env: dict[str, str]) -> None:
    python = str(image / "opt/venv/bin/python")
    check = "import importlib.util as u, sys; sys.exit(0 if u.find_spec(sys.argv[1]) else 3)"
    for present in ("sklearn", "flask", "gunicorn", "skops", "onnxruntime", DEFAULT_MODULE):
        result = subprocess.run([python, "-c", check, present], env=image_env, cwd=image / "app")
        assert result.returncode == 0, present
    for absent in ("dvc", "pytest", "skl2onnx", "onnx", f"{DEFAULT_MODULE}.training"):
        result = subprocess.run([python, "-c", check, absent], env=image_env, cwd=image / "app")
        assert result.returncode != 0, f"{absent} must not be in the serving image"


def test_image_serves_no_model_nobody_promoted(image: Path, image_env: dict[str, str]) -> None:
    """The image's ENV turns serving.serve_unpromoted off: built before any promotion it is
    not ready, and says why (params.yaml keeps it on for the workspace's make demo)."""
    probe = (
        f"from {DEFAULT_MODULE}.serving.app import create_app\n"
        "answer = create_app().test_client().get('/health/ready')\n"
        "print(answer.status_code, answer.get_json()['detail'])"
    )
    env = {**image_env, f"{DEFAULT_MODULE.upper()}__MONITORING__LOG__ENABLED": "false"}
    result = run([str(image / "opt/venv/bin/python"), "-c", probe], image / "app", env=env)
    status, detail = result.stdout.strip().split(" ", 1)
    assert status == "503", detail
    assert "serving.serve_unpromoted is false" in detail
    assert "make promote VERSION=" in detail


@pytest.fixture
def container(image: Path, image_env: dict[str, str], stages) -> Iterator[tuple[str, list[str]]]:
    """The image's CMD running on a free loopback port; yields (base url, health command)."""
    _, runtime = stages
    port = free_port()
    env = {**image_env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1"}
    # The shared project has promoted nothing: run the image as its Dockerfile says to try
    # one built before any promotion (docker run -e ..._SERVE_UNPROMOTED=true).
    env[f"{DEFAULT_MODULE.upper()}__SERVING__SERVE_UNPROMOTED"] = "true"
    command = runtime.exec_form("CMD")
    health = [part.replace(":8000", f":{port}") for part in runtime.exec_form("HEALTHCHECK")]
    binary = shutil.which(command[0], path=env["PATH"])
    assert binary is not None
    assert binary.startswith(str(image)), f"{command[0]} must come from the image's venv"
    process = subprocess.Popen(
        [binary, *command[1:]],
        cwd=image / "app",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield (
            f"http://127.0.0.1:{port}",
            [shutil.which(health[0], path=env["PATH"]), *health[1:]],
            env,
        )
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_image_command_serves_and_its_healthcheck_turns_healthy(container, image: Path) -> None:
    base, health, env = container
    deadline = time.monotonic() + 90
    while True:
        result = subprocess.run(health, env=env, cwd=image / "app", capture_output=True)
        if result.returncode == 0:
            break
        assert time.monotonic() < deadline, result.stderr.decode()[-2000:]
        time.sleep(0.5)
    metadata = json.loads(urllib.request.urlopen(f"{base}/metadata", timeout=10).read())
    request = urllib.request.Request(
        f"{base}/predict",
        data=json.dumps(metadata["input_example"]).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    assert response.status == 200
    assert answer["predictions"][0]["prediction"] in metadata["classes"]
    # The dashboard's page is a package file, not code: the image must carry it too.
    with urllib.request.urlopen(f"{base}/dashboard", timeout=10) as page:
        assert page.headers["Content-Type"].startswith("text/html")
        assert "dashboard/data" in page.read().decode()
