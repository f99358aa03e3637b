"""The full user path on a baked project: install, dvc repro, tests, lint, serve, predict.

Slow (minutes): it creates the project's virtualenv from its pinned, hashed requirements
with the project's own `make setup`, exactly as a new user would.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import pytest
import yaml
from helpers import AWKWARD, DEFAULT_MODULE, bake, free_port, run

pytestmark = pytest.mark.slow


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    content_type: str = "application/json",
    token: str | None = None,
) -> tuple[int, Any]:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_until_ready(base: str, process: subprocess.Popen[bytes], seconds: float = 90) -> None:
    """Poll /health/ready until 200; fail with the server's output if it dies or stays unready."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stderr.read().decode()[-3000:] if process.stderr else ""
            pytest.fail(f"gunicorn exited with code {process.returncode}: {output}")
        try:
            if http("GET", f"{base}/health/ready")[0] == 200:
                return
        except OSError:  # refused, reset or timed out while a busy machine boots workers
            pass
        time.sleep(0.3)
    pytest.fail(f"gunicorn did not become ready in {seconds:.0f} s")


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the server's workers write their Prometheus samples."""
    return tmp_path_factory.mktemp("prometheus")


@pytest.fixture(scope="module")
def server(project: Path, metrics_dir: Path) -> Iterator[str]:
    """gunicorn with the project's config and 2 workers on a free loopback port."""
    with gunicorn(
        project, {"WEB_CONCURRENCY": "2", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    ) as base:
        yield base


def test_pipeline_outputs_and_lock(project: Path) -> None:
    metrics = json.loads((project / "reports/metrics.json").read_text(encoding="utf-8"))
    assert metrics["gate"]["passed"] is True
    assert metrics["model"]["f1_macro"] > metrics["baseline"]["f1_macro"] + 0.1
    assert (project / "models/model.skops").is_file()
    lock = yaml.safe_load((project / "dvc.lock").read_text(encoding="utf-8"))
    assert set(lock["stages"]) == {"prepare", "split", "tune", "train", "evaluate"}


def test_setup_starts_the_repository_on_main(project: Path) -> None:
    """CI triggers on main: `make setup` starts there even where git's default is master."""
    assert run(["git", "symbolic-ref", "--short", "HEAD"], project).stdout.strip() == "main"


def test_dvc_plots_show_leaves_nothing_for_git_to_add(project: Path) -> None:
    status = ["git", "status", "--porcelain", "--untracked-files=all"]
    before = run(status, project).stdout
    run([".venv/bin/dvc", "plots", "show"], project)
    assert (project / "dvc_plots/index.html").is_file()
    assert run(status, project).stdout == before


def test_second_repro_does_nothing(project: Path) -> None:
    output = run(["make", "train"], project).stdout
    assert "Data and pipelines are up to date." in output
    assert "Running stage" not in output
    # The next step for a model that is not committed yet (tests/test_registry.py runs each).
    assert "`git add -A && git commit -m 'Train the model' && make register`" in output


# What belongs to the project, not to its tests: the tests write temporary folders only.
PROJECT_STATE = ("logs", "models/registry", "reports", "dvc.lock")


def project_state(project: Path) -> dict[str, str]:
    """The sha256 of every file of the project's own state, its git tags and git status."""
    state = {}
    for name in PROJECT_STATE:
        root = project / name
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            state[path.relative_to(project).as_posix()] = digest
    state["git tag"] = run(["git", "tag"], project).stdout
    status = ["git", "status", "--porcelain", "--untracked-files=all"]
    state["git status"] = run(status, project).stdout
    return state


def test_project_tests_and_linters_pass(project: Path) -> None:
    """The whole suite passes and leaves the prediction log, registry, reports, dvc.lock,
    git tags and the working tree byte for byte as they were."""
    before = project_state(project)
    result = run(["make", "test"], project)
    assert " passed" in result.stdout
    assert " failed" not in result.stdout
    assert project_state(project) == before
    run(["make", "lint"], project)


def test_served_prediction_over_http(project: Path, server: str) -> None:
    metadata = json.loads((project / "models/metadata.json").read_text(encoding="utf-8"))
    record = metadata["input_example"]
    status, body = http("POST", f"{server}/predict", json.dumps([record, record]).encode())
    assert status == 200
    assert body["model_version"] == metadata["version"]
    assert [row["prediction"] for row in body["predictions"]] == [
        body["predictions"][0]["prediction"]
    ] * 2
    assert body["predictions"][0]["prediction"] in metadata["classes"]
    served = http("GET", f"{server}/metadata")[1]
    assert served["version"] == metadata["version"]  # the artifact's sha256, shortened
    assert "libraries" not in served  # public metadata: what a client needs
    assert metadata["onnx"]["status"] == "passed"
    assert served["runtime"]["active"] == "onnx"  # the fast path serves by default


def scrape(base: str) -> dict[str, float]:
    """/metrics as {'name{label="value",...}': value} (sample lines only)."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
    return samples


def test_metrics_add_up_across_gunicorn_workers(
    project: Path, server: str, metrics_dir: Path
) -> None:
    """Requests served by both workers are counted once each, whichever worker is scraped."""
    record = json.loads((project / "models/metadata.json").read_text(encoding="utf-8"))[
        "input_example"
    ]
    before = scrape(server)
    ok = 'http_requests_total{endpoint="/predict",method="POST",status="200"}'
    bad = 'http_requests_total{endpoint="/predict",method="POST",status="422"}'

    def predict(_: int) -> int:
        return http("POST", f"{server}/predict", json.dumps([record, record]).encode())[0]

    # Concurrent rounds until both workers have served (fast ONNX requests can all land
    # on one worker; which one accepts is the kernel's choice), at most 20 rounds.
    sent = 0
    with ThreadPoolExecutor(max_workers=6) as pool:
        for _ in range(20):
            statuses = list(pool.map(predict, range(60)))
            assert statuses == [200] * 60
            sent += 60
            workers = {path.stem.split("_")[-1] for path in metrics_dir.glob("counter_*.db")}
            if len(workers) >= 2:
                break
    assert len(workers) == 2, sorted(metrics_dir.iterdir())
    assert http("POST", f"{server}/predict", b'{"island": "Biscoe"}')[0] == 422
    for _ in range(4):  # each scrape may be answered by either worker: all must agree
        after = scrape(server)
        assert after[ok] - before.get(ok, 0) == sent
        assert after[bad] - before.get(bad, 0) == 1
        predicted = sum(
            value - before.get(key, 0)
            for key, value in after.items()
            if key.startswith("predictions_total{")
        )
        assert predicted == 2 * sent
        error = 'http_request_errors_total{endpoint="/predict",error="missing_column"}'
        assert after[error] - before.get(error, 0) == 1


def test_dashboard_agrees_with_the_scrape_across_gunicorn_workers(
    project: Path, server: str
) -> None:
    """/dashboard/data reads the merged registry: whichever worker answers, its /predict
    and class totals are the scrape's (no /predict request runs meanwhile)."""
    record = json.loads((project / "models/metadata.json").read_text(encoding="utf-8"))[
        "input_example"
    ]
    for _ in range(6):
        assert http("POST", f"{server}/predict", json.dumps([record]).encode())[0] == 200
    samples = scrape(server)
    requests = sum(
        value
        for key, value in samples.items()
        if key.startswith('http_requests_total{endpoint="/predict"')
    )
    records = sum(value for key, value in samples.items() if key.startswith("predictions_total{"))
    for _ in range(4):  # each request may be answered by either worker: all must agree
        status, data = http("GET", f"{server}/dashboard/data")
        assert status == 200
        assert data["traffic"]["predict"]["requests"] == requests
        assert data["traffic"]["predictions"]["records"] == records
        assert data["drift"]["status"] in {"missing", "ok"}
    with urllib.request.urlopen(f"{server}/dashboard", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/html")
        assert "dashboard/data" in response.read().decode()


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{oops", "application/json", 400),
        (b"", "application/json", 400),
        (b"[]", "application/json", 400),
        (b'{"island": "Biscoe"}', "application/json", 422),
        (b"species=Adelie", "text/plain", 415),
    ],
)
def test_bad_requests_over_http_are_json_4xx(
    server: str, body: bytes, content_type: str, status: int
) -> None:
    got, answer = http("POST", f"{server}/predict", body, content_type)
    assert got == status
    assert set(answer) == {"error", "detail"}


def test_make_score_streams_a_csv_and_sets_bad_rows_aside(project: Path, tmp_path: Path) -> None:
    """Batch scoring in chunks: every good row scored in order, bad rows in the errors file."""
    lines = (project / "data/raw/penguins.csv").read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    source = tmp_path / "rows.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    output = tmp_path / "scores.csv"
    env_chunk = f"{DEFAULT_MODULE.upper()}__BATCH__CHUNK_SIZE=40"  # several chunks
    result = run(
        ["env", env_chunk, "make", "score", f"INPUT={source}", f"OUTPUT={output}"], project
    )
    assert f"scored {len(rows)} of {len(rows)} rows" in result.stdout
    assert "no row was refused, so there is no errors file" in result.stdout
    assert not (tmp_path / "scores.errors.csv").exists()
    with output.open(encoding="utf-8", newline="") as stream:
        scored = list(csv.DictReader(stream))
    assert [int(row["row"]) for row in scored] == list(range(1, len(rows) + 1))
    metadata = json.loads((project / "models/metadata.json").read_text(encoding="utf-8"))
    assert {row["prediction"] for row in scored} <= set(metadata["classes"])
    assert {row["model_version"] for row in scored} == {metadata["version"]}

    column = header.split(",").index("bill_length_mm")
    broken = rows[4].split(",")
    broken[column] = "forty"
    source.write_text("\n".join([header, *rows[:4], ",".join(broken)]) + "\n", encoding="utf-8")
    output = tmp_path / "scores.parquet"
    refused = make_without_terminal(project, "score-check", f"INPUT={source}", f"OUTPUT={output}")
    assert refused.returncode == 2, refused.stderr  # make: the command exited 3 (cron, CI)
    assert "score-check] Error 3" in refused.stderr, refused.stderr
    # Under another make (CI runs this suite from `make test`), make adds its own
    # "make[1]: Leaving directory" lines: the verdict is the command's last line.
    said = [line for line in refused.stdout.splitlines() if not line.startswith("make[")]
    assert said[-1].startswith("Done, but 1 row could not be scored: "), refused.stdout
    with (tmp_path / "scores.errors.csv").open(encoding="utf-8", newline="") as stream:
        errors = list(csv.DictReader(stream))
    assert errors == [
        {"row": "5", "error": "column 'bill_length_mm' must be a number, got 'forty'"}
    ]


def test_demo_target_serves_and_stops(project: Path) -> None:
    output = run(["make", "demo"], project, timeout=300).stdout
    assert "HTTP 200" in output
    assert '"model_version"' in output
    assert "make serve" in output


def test_awkward_answers_import_and_load_their_settings(project: Path, tmp_path: Path) -> None:
    """Quotes, apostrophes and non-ASCII answers give a package that imports and runs."""
    awkward = bake(tmp_path, **AWKWARD)
    module = "zoe_s_quoted_unicode_project"
    code = (
        f"import {module}, {module}.serving.app, {module}.training.__main__\n"
        f"from {module}.config import load_settings\n"
        "settings = load_settings()\n"
        "assert settings.root.name == 'zoe-s-quoted-unicode-project', settings.root\n"
        f"print({module}.__doc__.splitlines()[0])"
    )
    env = {**os.environ, "PYTHONPATH": str(awkward / "src")}
    result = subprocess.run(
        [str(project / ".venv/bin/python"), "-c", code],
        cwd=awkward,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Zoë's 'Quoted' Ünïcode Project" in result.stdout


def test_lock_check_passes_and_bites_on_an_edited_in_file(project: Path) -> None:
    run(["make", "lock-check"], project)
    serve_in = project / "requirements/serve.in"
    original = serve_in.read_text(encoding="utf-8")
    try:
        serve_in.write_text(original + "requests\n", encoding="utf-8")
        result = subprocess.run(
            ["make", "lock-check"], cwd=project, capture_output=True, text=True, check=False
        )
        assert result.returncode != 0
        assert "serve.txt does not match serve.in" in result.stdout
    finally:
        serve_in.write_text(original, encoding="utf-8")


def test_lock_check_passes_for_the_newest_python_answer(tmp_path: Path) -> None:
    """The committed universal locks match a re-lock for any python_version answer."""
    newest = bake(tmp_path, python_version="3.13", dvc_remote="s3")
    assert "locks are up to date" in run(["make", "lock-check"], newest).stdout


@contextmanager
def gunicorn(
    project: Path,
    env: dict[str, str] | None = None,
    venv: Path | None = None,
    command: list[str] | None = None,
    stdout: IO[bytes] | None = None,
) -> Iterator[str]:
    """Serve the project with its gunicorn.conf.py on a free loopback port; yield its URL.

    One worker unless ``env`` says otherwise (e.g. WEB_CONCURRENCY). ``venv``: the
    virtualenv whose gunicorn runs (default: the project's .venv). ``command``: what
    starts gunicorn instead (a bundle's run.sh). ``stdout``: where the server's standard
    output goes (default: nowhere).
    """
    port = free_port()
    process = subprocess.Popen(
        command
        or [
            str((venv or project / ".venv") / "bin/gunicorn"),
            "--config",
            "gunicorn.conf.py",
            f"{DEFAULT_MODULE}.serving.app:create_app()",
        ],
        cwd=project,
        env={
            **os.environ,
            "WEB_CONCURRENCY": "1",
            **(env or {}),
            "GUNICORN_BIND": f"127.0.0.1:{port}",
        },
        stdout=stdout or subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A chat webhook on 127.0.0.1: yield its URL and the JSON bodies it receives."""
    received: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hooks/secret", received
    finally:
        server.shutdown()
        server.server_close()


def make_without_terminal(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a make target with no terminal on stdin (as in CI); the caller checks the result."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("VIRTUAL_ENV")}
    return subprocess.run(
        ["make", *args],
        cwd=project,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def test_make_retrain_registers_a_candidate_reports_and_never_promotes(project: Path) -> None:
    """`make retrain COMMIT=1` through the real make pull, dvc repro, GTO and store.

    Like the registry test below, it puts the shared project back as it found it.
    """
    params_path = project / "params.yaml"
    original = params_path.read_text(encoding="utf-8")
    try:
        run(["git", "add", "-A"], project)
        run(["git", "commit", "--quiet", "-m", "Train v1"], project)
        with webhook() as (url, posted):  # NOTIFY=1: the report goes to the team's chat
            env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
            env[f"{DEFAULT_MODULE.upper()}__NOTIFY__WEBHOOK__URL"] = url
            output = run(["make", "retrain", "COMMIT=1", "NOTIFY=1"], project, env=env).stdout
        assert "Candidate v1.0.0 is registered and awaits approval" in output
        assert "notify: posted to the webhook at 127.0.0.1:" in output
        (message,) = posted
        assert message["text"].startswith("[penguin-classifier] Retrain of model: candidate")
        assert message["text"].endswith((project / "reports/retrain.md").read_text("utf-8"))
        report = (project / "reports/retrain.md").read_text(encoding="utf-8")
        metrics = json.loads((project / "reports/metrics.json").read_text(encoding="utf-8"))
        score = metrics["model"]["f1_macro"]
        assert f"| f1_macro (gate) | {score:.4f} |" in report
        assert "make pull:" in report
        assert "<code>make promote VERSION=v1.0.0</code>" in (
            project / "reports/retrain.html"
        ).read_text(encoding="utf-8")
        assert not (project / "models/registry/prod.json").exists()
        assert "v1.0.0" in run(["make", "models"], project).stdout

        # Where the store is missing (a CI runner), prod comes from the git tags via DVC.
        run(["make", "promote", "VERSION=v1", "YES=1"], project)
        shutil.rmtree(project / "models/registry")
        # make retrain-check, as cron and CI run it: exit 0 with the same verdict in words.
        checked = make_without_terminal(project, "retrain-check")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        output = checked.stdout
        assert "Nothing new: the candidate is v1.0.0, already registered and in prod" in output
        report = (project / "reports/retrain.md").read_text(encoding="utf-8")
        assert f"| f1_macro (gate) | {score:.4f} | {score:.4f} | +0.0000 |" in report
        assert "Prod model read from git tags, read at commit" in report
        assert not (project / "models/registry/prod.json").exists()

        params_path.write_text(original + "# an uncommitted edit\n", encoding="utf-8")
        refused = make_without_terminal(project, "retrain", "COMMIT=1")
        assert refused.returncode != 0
        assert "Error 1" in refused.stderr
        assert "Retrain failed at the check step" in refused.stderr
        assert "FAILED, prod untouched" in (project / "reports/retrain.md").read_text("utf-8")
        assert not (project / "models/registry/prod.json").exists()
    finally:
        params_path.write_text(original, encoding="utf-8")
        shutil.rmtree(project / "models/registry", ignore_errors=True)
        for name in ("retrain.md", "retrain.html"):
            (project / "reports" / name).unlink(missing_ok=True)
        tags = run(["git", "tag", "--list", "model*"], project).stdout.split()
        if tags:
            run(["git", "tag", "--delete", *tags], project)
        run(["git", "update-ref", "-d", "HEAD"], project)  # back to "no commit yet"


def test_register_promote_models_rollback_through_make(project: Path) -> None:
    """Two versions through the real commands (git, GTO, DVC); then gunicorn serves v1.

    It commits, changes params and retrains the shared project, then puts it back as it
    found it: no commit, no tag, no model store, the original params and model.
    """
    params_path = project / "params.yaml"
    original = params_path.read_text(encoding="utf-8")
    storage = project.parent / f"{project.name}-dvc-storage"  # the default local remote
    had_storage = storage.exists()
    try:
        run(["git", "add", "-A"], project)
        run(["git", "commit", "--quiet", "-m", "Train v1"], project)
        assert "Registered v1.0.0" in run(["make", "register"], project).stdout
        run(["make", "push"], project)  # v1's data and model go to the (local) DVC remote

        unconfirmed = make_without_terminal(project, "promote", "VERSION=v1")
        assert unconfirmed.returncode != 0
        assert "YES=1" in unconfirmed.stderr
        assert (
            "v1.0.0 is now in prod"
            in run(["make", "promote", "VERSION=v1", "YES=1"], project).stdout
        )

        params = yaml.safe_load(original)
        params["model"]["numeric_imputer"] = "mean"
        params_path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
        run(["make", "train"], project)
        run(["git", "commit", "--quiet", "-am", "Train v2 with the mean imputer"], project)
        assert "Registered v2.0.0" in run(["make", "register"], project).stdout
        run(["make", "promote", "VERSION=v2", "YES=1"], project)

        listing = run(["make", "models"], project).stdout
        assert "v2.0.0   prod" in listing
        assert "v1.0.0   was prod" in listing
        said = [line for line in listing.splitlines() if not line.startswith("make[")]
        assert said[0].startswith("v2.0.0 is in prod since "), listing  # the verdict first
        assert "(promoted by Template Tests)." in listing
        assert "tests@example.com" not in listing  # names, never emails

        # The store and DVC's cache lose v1 (a new server): the rollback exports it again
        # from its git tag and the DVC remote, byte for byte, with no retraining.
        v1_folder = project / "models/registry/versions/v1.0.0"
        v1_metadata = json.loads((v1_folder / "metadata.json").read_text(encoding="utf-8"))
        shutil.rmtree(v1_folder)
        v1_lock = run(["git", "show", "model@v1.0.0:dvc.lock"], project).stdout
        for stage in ("train", "evaluate"):
            for out in yaml.safe_load(v1_lock)["stages"][stage]["outs"]:
                md5 = out["md5"]
                (project / ".dvc/cache/files/md5" / md5[:2] / md5[2:]).unlink(missing_ok=True)
        rolled = run(["make", "rollback", "YES=1", "REASON=e2e check"], project).stdout
        assert "exporting it from model@v1.0.0 and DVC" in rolled
        assert "v1.0.0 is back in prod (was v2.0.0)" in rolled
        restored = json.loads((v1_folder / "metadata.json").read_text(encoding="utf-8"))
        assert restored["artifact"] == v1_metadata["artifact"]
        assert restored["lineage"]["restored_from"] == "dvc"
        listing = run(["make", "models"], project).stdout
        assert "v1.0.0   prod" in listing
        assert "rollback v2.0.0 -> v1.0.0  by Template Tests: e2e check" in listing
        gto = run([str(project / ".venv/bin/gto"), "show", "model#prod", "--ref"], project)
        assert gto.stdout.strip() == "model@v1.0.0"

        record = json.loads(
            (project / "models/registry/versions/v1.0.0/metadata.json").read_text(encoding="utf-8")
        )["input_example"]
        (project / "record.json").write_text(json.dumps(record), encoding="utf-8")
        predicted = run(["make", "--silent", "predict", "INPUT=record.json"], project).stdout
        assert json.loads(predicted)["model_version"] == "v1.0.0"
        token = {f"{DEFAULT_MODULE.upper()}_RETRAIN_TOKEN": "e2e-operator"}
        with gunicorn(project, env=token) as base:
            status, answer = http("POST", f"{base}/predict", json.dumps(record).encode())
            assert (status, answer["model_version"]) == (200, "v1.0.0")
            metadata = http("GET", f"{base}/metadata?full=1", token="e2e-operator")[1]
            assert metadata["serving"] == {"source": "registry", "stage": "prod"}
            v1_commit = run(["git", "rev-list", "-n", "1", "model@v1.0.0"], project).stdout
            assert metadata["lineage"]["git_commit"] == v1_commit.strip()
    finally:
        params_path.write_text(original, encoding="utf-8")
        shutil.rmtree(project / "models/registry", ignore_errors=True)
        if not had_storage:  # what this test pushed must not count in later push tests
            shutil.rmtree(storage, ignore_errors=True)
        (project / "record.json").unlink(missing_ok=True)
        run(["make", "train"], project)  # DVC's run cache restores the original model
        tags = run(["git", "tag", "--list", "model*"], project).stdout.split()
        if tags:
            run(["git", "tag", "--delete", *tags], project)
        run(["git", "update-ref", "-d", "HEAD"], project)  # back to "no commit yet"


def training_records(project: Path, count: int) -> tuple[list[dict[str, str]], list[Any]]:
    """The first ``count`` training rows, and the same as /predict records."""
    schema = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))["schema"]
    with open(project / "data/processed/train.csv", encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))[:count]
    records = [
        {
            **{name: float(row[name]) if row[name] else None for name in schema["numeric"]},
            **{name: row[name] or None for name in schema["categorical"]},
        }
        for row in rows
    ]
    return rows, records


def offline(env: dict[str, str]) -> dict[str, str]:
    """``env`` with no package index reachable: pip's and uv's settings and config files
    dropped, their index pointed at a closed port (the discard port of 127.0.0.1)."""
    kept = {key: value for key, value in env.items() if not key.startswith(("PIP_", "UV_"))}
    closed = "http://127.0.0.1:9/"
    return kept | {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": closed,
        "UV_NO_CONFIG": "1",
        "UV_INDEX_URL": closed,
        "UV_DEFAULT_INDEX": closed,
    }


def test_package_installs_into_a_fresh_virtualenv_serves_and_refuses_tampering(
    project: Path, tmp_path: Path
) -> None:
    """`make package` of a promoted v1 (with every dependency's wheel); install.sh into a
    new virtualenv outside the project with no package index reachable.

    The installed server answers from the bundle folder alone, through run.sh, and logs
    outside it; drift runs on that log; the bundle still verifies afterwards (nothing was
    written into it); a bundle with one changed byte is refused before anything is
    installed. Like the registry test, it commits, registers and promotes, then puts the
    project back as it found it.
    """
    refused = make_without_terminal(project, "package")
    assert refused.returncode != 0
    assert "make promote VERSION=" in refused.stderr
    try:
        run(["git", "add", "-A"], project)
        run(["git", "commit", "--quiet", "-m", "Release v1"], project)
        run(["make", "register"], project)
        run(["make", "promote", "VERSION=v1", "YES=1"], project)
        built = run(["make", "package"], project).stdout
        tarball = project / "dist/penguin-classifier-v1.0.0.tar.gz"
        assert f"Built {tarball}" in built
        run(["sha256sum", "--check", f"{tarball.name}.sha256"], tarball.parent)
        with tarfile.open(tarball) as tar:
            tar.extractall(tmp_path / "release", filter="data")
    finally:
        shutil.rmtree(project / "models/registry", ignore_errors=True)
        shutil.rmtree(project / "dist", ignore_errors=True)
        tags = run(["git", "tag", "--list", "model*"], project).stdout.split()
        if tags:
            run(["git", "tag", "--delete", *tags], project)
        run(["git", "update-ref", "-d", "HEAD"], project)  # back to "no commit yet"

    # uv (from the project's tools, nothing else of its .venv) makes the install fast.
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "uv").symlink_to(project / ".venv/bin/uv")
    env = {key: value for key, value in os.environ.items() if not key.startswith("VIRTUAL_ENV")}
    env = offline({**env, "PATH": f"{tools}:{env['PATH']}"})
    bundle = tmp_path / "release/penguin-classifier-v1.0.0"
    venv = tmp_path / "venv"
    installed = run([str(bundle / "install.sh"), str(venv)], tmp_path, env=env).stdout
    assert "every file matches MANIFEST.sha256" in installed
    assert f"{bundle}/run.sh {venv} serve" in installed
    listing = (
        f"import json, pkgutil, {DEFAULT_MODULE} as m; "
        "print(json.dumps([i.name for i in pkgutil.iter_modules(m.__path__)]))"
    )
    shipped = run([str(venv / "bin/python"), "-c", listing], tmp_path)
    assert set(json.loads(shipped.stdout)) == {
        "batch",
        "config",
        "env_overrides",
        "monitoring",
        "notify",
        "onnx_model",
        "prediction",
        "prediction_log",
        "schema",
        "scoring",
        "serving",
        "storage",
    }

    state = tmp_path / "state"  # run.sh writes here, never into the bundle
    served = {**env, f"{DEFAULT_MODULE.upper()}_STATE_DIR": str(state)}
    run_sh = [str(bundle / "run.sh"), str(venv)]
    _, records = training_records(project, 100)  # monitoring.drift.min_records
    with gunicorn(bundle, env=served, command=[*run_sh, "serve"]) as base:
        status, answer = http("POST", f"{base}/predict", json.dumps(records).encode())
        assert (status, answer["model_version"]) == (200, "v1.0.0")
        assert http("GET", f"{base}/metadata")[1]["serving"] == {
            "source": "registry",
            "stage": "prod",
        }
        # The page is package data of the wheel, not a module: it must be installed too.
        with urllib.request.urlopen(f"{base}/dashboard", timeout=10) as page:
            assert page.status == 200
            assert "<html" in page.read().decode().lower()
    assert (state / "logs/predictions.jsonl").is_file()
    run([*run_sh, "drift"], tmp_path, env=served)  # training rows: no drift, exit 0
    report = json.loads((state / "reports/drift.json").read_text(encoding="utf-8"))
    assert (report["model_version"], report["current"]["rows"]) == ("v1.0.0", 100)
    assert not report["drift_detected"]
    verified = run(["python3", str(bundle / "verify.py")], tmp_path).stdout
    assert "every file matches MANIFEST.sha256" in verified

    # A copy of the bundle (verified unchanged above; hard links: the wheels are large)
    # with one bit of the model flipped.
    tampered = tmp_path / "tampered/penguin-classifier-v1.0.0"
    shutil.copytree(bundle, tampered, copy_function=os.link)
    artifact = tampered / "models/registry/versions/v1.0.0/model.skops"
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0x01
    artifact.unlink()  # a new file: the hard-linked original stays intact
    artifact.write_bytes(bytes(data))
    other = tmp_path / "other-venv"
    result = subprocess.run(
        [str(tampered / "install.sh"), str(other)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "models/registry/versions/v1.0.0/model.skops: changed" in result.stderr
    assert not other.exists()


@pytest.mark.parametrize("sink", ["file", "stdout"])
def test_served_requests_are_logged_and_monitored(project: Path, tmp_path: Path, sink: str) -> None:
    """gunicorn's workers log what they answer; make drift and make scores read it: the
    local log, or (sink stdout) the server's output as a log collector would export it."""
    prefix = f"{DEFAULT_MODULE.upper()}__"
    exported = tmp_path / "exports" / "replica-1.jsonl"
    exported.parent.mkdir()
    logs = [f"LOGS={tmp_path}/exports/*.jsonl"] if sink == "stdout" else []
    env = {
        f"{prefix}MONITORING__LOG__SINK": sink,
        **{key: value for key, value in os.environ.items() if not key.startswith("VIRTUAL_ENV")},
        f"{prefix}PATHS__PREDICTION_LOG": str(tmp_path / "logs/predictions.jsonl"),
        f"{prefix}PATHS__DRIFT_REPORT": str(tmp_path / "drift.json"),
        f"{prefix}PATHS__DRIFT_HTML": str(tmp_path / "drift.html"),
        f"{prefix}PATHS__LIVE_METRICS": str(tmp_path / "live.json"),
        f"{prefix}MONITORING__DRIFT__MIN_RECORDS": "60",
    }
    schema = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))["schema"]
    rows, records = training_records(project, 60)
    labels = tmp_path / "labels.csv"
    with (
        open(exported, "wb") as output,
        gunicorn(project, {**env, "WEB_CONCURRENCY": "2"}, stdout=output) as base,
        open(labels, "w", encoding="utf-8", newline="") as stream,
    ):
        writer = csv.writer(stream)
        writer.writerow(["request_id", "record", schema["target"]])
        for start in range(0, len(records), 10):
            request = urllib.request.Request(
                f"{base}/predict",
                data=json.dumps(records[start : start + 10]).encode(),
                headers={"Content-Type": "application/json", "X-Request-ID": f"b{start}"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert json.loads(response.read())["request_id"] == f"b{start}"
            for index, row in enumerate(rows[start : start + 10]):
                writer.writerow([f"b{start}", index, row[schema["target"]]])
    # gunicorn has stopped: its workers wrote what they had queued on the way out.
    assert (tmp_path / "logs/predictions.jsonl").exists() == (sink == "file")
    with webhook() as (url, posted):  # NOTIFY=1: the report goes to the team's chat
        drift = subprocess.run(
            ["make", "drift", "NOTIFY=1", *logs],
            cwd=project,
            env={**env, f"{prefix}NOTIFY__WEBHOOK__URL": url},
            capture_output=True,
            text=True,
            check=False,
        )
    assert drift.returncode == 0, drift.stdout + drift.stderr  # training rows: no drift
    (message,) = posted
    assert message["text"].startswith("[penguin-classifier] No drift: model ")
    assert "60 records" in message["text"]
    report = json.loads((tmp_path / "drift.json").read_text(encoding="utf-8"))
    assert report["current"]["rows"] == 60
    assert set(report["features"]) == {*schema["numeric"], *schema["categorical"]}
    assert "<svg" in (tmp_path / "drift.html").read_text(encoding="utf-8")
    scores = subprocess.run(
        ["make", "scores", f"LABELS={labels}", *logs],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    # The labels are the training rows' own: compared with training, and not degraded
    # (make would turn the command's exit 1 or 2 into its own 2).
    assert scores.returncode == 0, scores.stdout + scores.stderr
    live = json.loads((tmp_path / "live.json").read_text(encoding="utf-8"))
    assert live["labels"]["matched"] == 60
    assert (live["compared"], live["degraded"]) == (1, False)
    if sink == "file":  # cron's and CI's targets, once: exit 0, all is well
        for target in ("drift-check", f"scores-check LABELS={labels}"):
            checked = subprocess.run(
                ["make", *target.split()], cwd=project, env=env, capture_output=True, text=True
            )
            assert checked.returncode == 0, checked.stdout + checked.stderr


def test_make_setup_store_s3_installs_boto3_for_a_store_on_s3(project: Path) -> None:
    """docs/deployment.md: a model store on S3 needs boto3 (requirements/store-s3.txt)."""
    result = make_without_terminal(project, "setup-store-s3")
    assert result.returncode == 0, result.stdout + result.stderr
    check = [str(project / ".venv/bin/python"), "-c", "import boto3"]
    assert subprocess.run(check, capture_output=True, check=False).returncode == 0


DRIFTED_LOG = """
import sys
from {module}.config import load_settings
from {module}.prediction_log.appender import PredictionLog
from {module}.training.data import load_split
settings = load_settings()
features, _ = load_split(settings.paths.train_data, settings)
frame = features.sample(200, replace=True, random_state=0).reset_index(drop=True)
for name in settings.feature_schema.numeric:
    frame[name] = frame[name] + 2 * frame[name].std()
log = PredictionLog(settings.paths.prediction_log, 10_000_000, 1)
assert log.log("drifted", sys.argv[1], frame, ["?"] * len(frame))
"""


def answering_yes(project: Path, command: str) -> str:
    """Run a printed command as a person would: in a terminal, answering y; its output."""
    import pty  # POSIX only, like the rest of these tests

    controller, terminal = pty.openpty()
    env = {key: value for key, value in os.environ.items() if not key.startswith("VIRTUAL_ENV")}
    process = subprocess.Popen(
        ["bash", "-c", command],
        cwd=project,
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    os.write(controller, b"y\n")
    out, err = process.communicate(timeout=300)
    os.close(controller)
    os.close(terminal)
    assert process.returncode == 0, f"{command}:\n{out}\n{err}"
    return out


def test_printed_advice_runs_as_printed(project: Path, tmp_path: Path) -> None:
    """Issue 20 items 3 and 6: every command the retrain report, a retrain job's status and
    make drift print is run here exactly as printed (make retrain runs in the test above).

    A POST /retrain job's candidate becomes v1 with its status's command; a retrain's
    candidate is dropped with the report's command (DVC's autostage staged its dvc.lock),
    then trained again and registered with the report's command as v2; drift of v2 in prod
    names the log, make models and make rollback, which puts v1 back. The shared project
    is put back as it was found.
    """
    params_path = project / "params.yaml"
    original = params_path.read_text(encoding="utf-8")
    python = str(project / ".venv/bin/python")
    job_id = "ab" * 16
    jobs = project / "models/retrain"
    prefix = DEFAULT_MODULE.upper()
    log = tmp_path / "predictions.jsonl"
    monitoring = {  # the drift log and reports in tmp_path, never the project's
        **{k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")},
        f"{prefix}__PATHS__PREDICTION_LOG": str(log),
        f"{prefix}__PATHS__DRIFT_REPORT": str(tmp_path / "drift.json"),
        f"{prefix}__PATHS__DRIFT_HTML": str(tmp_path / "drift.html"),
    }
    try:
        run(["git", "add", "-A"], project)
        run(["git", "commit", "--quiet", "-m", "Train v1"], project)
        # The job, as POST /retrain starts it (its runner and command, synchronously here).
        (jobs / job_id).mkdir(parents=True)
        status_file = jobs / job_id / "status.json"
        status_file.write_text(json.dumps({"job_id": job_id, "status": "queued"}), "utf-8")
        (jobs / job_id / "train.log").touch()
        runner = f"{DEFAULT_MODULE}.serving.retrain_jobs"
        training = [python, "-m", f"{DEFAULT_MODULE}.training", "all"]
        run([python, "-m", runner, str(project), str(jobs / job_id), "--", *training], project)
        status = json.loads(status_file.read_text(encoding="utf-8"))
        assert status["register_with"] == f"make register JOB={job_id}", status
        registered = run(["bash", "-c", status["register_with"]], project).stdout
        assert "Registered v1.0.0" in registered
        assert run(["git", "status", "--porcelain", "--untracked-files=no"], project).stdout == ""
        run(["make", "promote", "VERSION=v1", "YES=1"], project)

        params = yaml.safe_load(original)
        params["model"]["numeric_imputer"] = "mean"
        params_path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
        run(["git", "commit", "--quiet", "-am", "Try the mean imputer"], project)
        said = run(["make", "retrain"], project).stdout
        assert "is not registered yet" in said or "worse than prod" in said, said
        report = (project / "reports/retrain.md").read_text(encoding="utf-8")
        assert "| git commit | uncommitted changes on " in report
        drop = report.split("To drop it: `", 1)[1].split("`", 1)[0]
        run(["bash", "-c", drop], project)
        assert run(["git", "status", "--porcelain", "--untracked-files=no"], project).stdout == ""
        lock = yaml.safe_load((project / "dvc.lock").read_text(encoding="utf-8"))
        (out,) = [o for o in lock["stages"]["train"]["outs"] if o["path"] == "models/model.skops"]
        model_md5 = hashlib.md5((project / "models/model.skops").read_bytes()).hexdigest()
        assert model_md5 == out["md5"]  # the committed model is back, not the candidate

        run(["make", "train"], project)  # the candidate again (DVC's run cache)
        register = re.search(r"To register it(?: anyway)?: `([^`]+)`", report).group(1)
        assert "Registered v2.0.0" in run(["bash", "-c", register], project).stdout
        run(["make", "promote", "VERSION=v2", "FORCE=e2e: any v2 will do", "YES=1"], project)

        run(
            [python, "-c", DRIFTED_LOG.format(module=DEFAULT_MODULE), "v2.0.0"],
            project,
            env=monitoring,
        )
        said = run(["make", "drift"], project, env=monitoring).stdout
        steps = [line for line in said.splitlines() if line.startswith("- ")]
        commands = [line.split("`")[1::2] for line in steps]
        printed = [command for found in commands for command in found]
        assert printed[0] == f"tail -n 5 {log}"
        assert printed[1:3] == ["make retrain", "make models"]
        assert printed[3].startswith("make rollback REASON='drift in ")
        assert '"request_id":"drifted"' in run(["bash", "-c", printed[0]], project).stdout
        assert "v2.0.0 is in prod" in run(["bash", "-c", printed[2]], project).stdout
        assert "v1.0.0 is back in prod (was v2.0.0)" in answering_yes(project, printed[3])
    finally:
        params_path.write_text(original, encoding="utf-8")
        shutil.rmtree(project / "models/registry", ignore_errors=True)
        shutil.rmtree(jobs, ignore_errors=True)
        for name in ("retrain.md", "retrain.html"):
            (project / "reports" / name).unlink(missing_ok=True)
        run(["git", "update-ref", "-d", "HEAD"], project)  # back to "no commit yet"
        run(["make", "train"], project)  # DVC's run cache restores the original model
        tags = run(["git", "tag", "--list", "model*"], project).stdout.split()
        if tags:
            run(["git", "tag", "--delete", *tags], project)
