"""deploy=kubernetes: the manifests validate against the Kubernetes API's schemas.

kubernetes-validate bundles the schemas of every Kubernetes release: no cluster and no
network. The manifests depend only on the project's names and on dvc_remote (the retrain
CronJob reaches the DVC remote; every other answer bakes the same files, which the option
matrix checks), so a default bake per dvc_remote and one with awkward answers cover every
combination.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from dockerfile import parse
from helpers import AWKWARD, KUBERNETES_MANIFESTS, bake, run

KIND_OF = {
    "configmap": "ConfigMap",
    "cronjob-drift": "CronJob",
    "cronjob-retrain": "CronJob",
    "deployment": "Deployment",
    "hpa": "HorizontalPodAutoscaler",
    "pdb": "PodDisruptionBudget",
    "service": "Service",
}


# (names, dvc_remote): every dvc_remote, and awkward names once.
BAKES = [("default", "local"), ("default", "s3"), ("default", "none"), ("awkward", "s3")]


@pytest.fixture(scope="module", params=BAKES, ids=["-".join(bake) for bake in BAKES])
def manifests(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(project folder, name -> parsed manifest) of a deploy=kubernetes bake."""
    names, remote = request.param
    answers = AWKWARD if names == "awkward" else {}
    project = bake(
        tmp_path_factory.mktemp(f"{names}-{remote}"),
        deploy="kubernetes",
        dvc_remote=remote,
        **answers,
    )
    folder = project / "deploy" / "kubernetes"
    return project, {
        name: yaml.safe_load((folder / f"{name}.yaml").read_text(encoding="utf-8"))
        for name in KUBERNETES_MANIFESTS
    }


def test_every_manifest_validates_against_the_kubernetes_schemas(manifests: Any) -> None:
    _, parsed = manifests
    version = kubernetes_validate.latest_version()
    for name, manifest in parsed.items():
        assert manifest["kind"] == KIND_OF[name]
        kubernetes_validate.validate(manifest, version, strict=True)  # raises if invalid


def test_the_validator_refuses_a_misspelt_field() -> None:
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "x"},
        "spec": {"minAvailabel": 1},
    }
    with pytest.raises(kubernetes_validate.ValidationError, match="minAvailabel"):
        kubernetes_validate.validate(pdb, kubernetes_validate.latest_version(), strict=True)


def server(parsed: dict[str, Any]) -> dict[str, Any]:
    return parsed["deployment"]["spec"]["template"]["spec"]


def test_the_server_is_probed_on_the_health_endpoints_and_runs_locked_down(
    manifests: Any,
) -> None:
    project, parsed = manifests
    pod = server(parsed)
    (container,) = pod["containers"]
    probes = {
        kind: container[kind]["httpGet"]["path"]
        for kind in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    assert probes == {
        "startupProbe": "/health/ready",
        "readinessProbe": "/health/ready",
        "livenessProbe": "/health/live",
    }
    api = next(project.glob("src/*/serving/api.py")).read_text(encoding="utf-8")
    assert '@api.get("/health/ready")' in api
    assert '@api.get("/health/live")' in api
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"requests", "limits"} <= set(container["resources"])
    # A rolling update never lowers the ready replicas (the readiness gate does the rest).
    assert parsed["deployment"]["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    secrets = {
        item["valueFrom"]["secretKeyRef"]["key"] for item in container["env"] if "valueFrom" in item
    }
    assert secrets == {"retrain-token", "aws-access-key-id", "aws-secret-access-key"}


def test_the_pieces_point_at_each_other(manifests: Any) -> None:
    project, parsed = manifests
    labels = parsed["deployment"]["spec"]["template"]["metadata"]["labels"]
    assert parsed["deployment"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert parsed["service"]["spec"]["selector"].items() <= labels.items()
    assert parsed["pdb"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert (
        parsed["hpa"]["spec"]["scaleTargetRef"]["name"] == parsed["deployment"]["metadata"]["name"]
    )
    volumes = {volume["name"]: volume for volume in server(parsed)["volumes"]}
    assert volumes["config"]["configMap"]["name"] == parsed["configmap"]["metadata"]["name"]
    params = (project / "params.yaml").read_text(encoding="utf-8")
    assert parsed["configmap"]["data"]["params.yaml"] == params
    assert yaml.safe_load(params)["paths"]["registry_cache"] == "models/registry_cache"
    mounts = {
        mount["name"]: mount["mountPath"]
        for mount in server(parsed)["containers"][0]["volumeMounts"]
    }
    assert mounts["registry-cache"] == "/app/models/registry_cache"
    assert mounts["config"] == "/app/params.yaml"


def test_make_k8s_config_keeps_the_configmap_in_step_with_params_yaml(manifests: Any) -> None:
    """What docs/deployment.md tells a user to run after changing params.yaml."""
    project, _ = manifests
    configmap = project / "deploy" / "kubernetes" / "configmap.yaml"
    baked = configmap.read_bytes()
    make = ["make", "k8s-config"]
    result = subprocess.run(make, cwd=project, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert configmap.read_bytes() == baked  # the bake already holds params.yaml
    params = project / "params.yaml"
    original = params.read_text(encoding="utf-8")
    params.write_text(original.replace("max_batch_size: 1000", "max_batch_size: 50"), "utf-8")
    try:
        result = subprocess.run(make, cwd=project, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        written = yaml.safe_load(configmap.read_text(encoding="utf-8"))
        assert written["data"]["params.yaml"] == params.read_text(encoding="utf-8")
        assert "max_batch_size: 50" in written["data"]["params.yaml"]
        kubernetes_validate.validate(written, kubernetes_validate.latest_version(), strict=True)
    finally:
        params.write_text(original, encoding="utf-8")
        configmap.write_bytes(baked)


def job_pods(parsed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """component -> the pod spec of its CronJob."""
    return {
        name: parsed[f"cronjob-{name}"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        for name in ("retrain", "drift")
    }


def test_the_cronjobs_run_the_jobs_image_the_dockerfile_builds(manifests: Any) -> None:
    """The serving image has no training code: the jobs run the Dockerfile's `jobs` stage,
    cloning the project where that image's PYTHONPATH looks, and call existing targets."""
    project, parsed = manifests
    slug = parsed["deployment"]["metadata"]["name"]
    jobs = {stage.name: stage for stage in parse(project / "Dockerfile")}["jobs"]
    workdir = jobs.all("WORKDIR")[-1]
    dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")
    docs = (project / "docs" / "deployment.md").read_text(encoding="utf-8")
    assert f"docker build --target jobs -t {slug}-jobs ." in dockerfile
    assert f"docker build --target jobs -t registry.example.com/{slug}-jobs:v1 ." in docs
    makefile = (project / "Makefile").read_text(encoding="utf-8")
    for name, pod in job_pods(parsed).items():
        (container,) = pod["containers"]
        assert container["image"] == f"{slug}-jobs:latest", name
        assert pod["securityContext"]["runAsUser"] == int(jobs.all("USER")[-1].split(":")[0])
        mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
        assert mounts["work"] == workdir, name
        assert {"name": "work", "emptyDir": {}} in pod["volumes"], name
        assert container["command"] == ["/bin/sh", "-c"], name
        (script,) = container["args"]
        run(["sh", "-n", "-c", script], project)  # the shell can read it
        clone = re.search(r'git clone [^\n]*"\$GIT_REPOSITORY" (\S+)\n', script)
        assert clone is not None, script
        assert f"\ncd {clone[1]}\n" in script
        assert jobs.env()["PYTHONPATH"] == f"{workdir}/{clone[1]}/src"
        targets = re.findall(r"^make ([\w-]+)", script, re.MULTILINE)
        assert targets, script
        for target in targets:
            assert re.search(rf"^{target}:", makefile, re.MULTILINE), f"no make {target}"


def test_the_cronjobs_reference_the_secrets_they_need(manifests: Any) -> None:
    project, parsed = manifests
    slug = parsed["deployment"]["metadata"]["name"]
    s3_remote = (project / "requirements" / "s3.txt").exists()
    store = {"aws-access-key-id", "aws-secret-access-key"}
    expected = {
        "retrain": {"git-repository", *store, *(("dvc-s3-url", "aws-endpoint-url") * s3_remote)},
        "drift": {"git-repository", *store},
    }
    docs = (project / "docs" / "deployment.md").read_text(encoding="utf-8")
    for name, pod in job_pods(parsed).items():
        (container,) = pod["containers"]
        refs = {
            item["valueFrom"]["secretKeyRef"]["key"]: item["valueFrom"]["secretKeyRef"]
            for item in container["env"]
            if "valueFrom" in item
        }
        assert set(refs) == expected[name], name
        assert {ref["name"] for ref in refs.values()} == {f"{slug}-secrets"}
        for key, ref in refs.items():
            if not ref.get("optional"):  # a pod without it does not start, naming the key
                assert f"--from-literal={key}=" in docs, key
        defined = {item["name"] for item in container["env"]}
        used = set(re.findall(r"\$\{?([A-Z_]+)", container["args"][0]))
        assert used <= defined, used - defined


def test_a_job_refuses_a_clone_whose_lock_the_image_does_not_hold(
    manifests: Any, tmp_path: Path
) -> None:
    """The jobs image records its lock's sha256 (Dockerfile); each job checks the clone's
    against it, so a job never runs code whose requirements the image lacks."""
    project, parsed = manifests
    jobs = {stage.name: stage for stage in parse(project / "Dockerfile")}["jobs"]
    [((lock,), destination)] = jobs.copies()
    dev_lock = re.search(r"^DEV_LOCK := (\S+)$", (project / "Makefile").read_text(), re.M)
    assert dev_lock is not None
    assert lock == dev_lock[1], "the jobs image must hold what make setup installs"
    # The image's files, rehearsed: the lock copied as the stage does, its sha256 recorded.
    image_workdir = jobs.all("WORKDIR")[0]
    image = tmp_path / image_workdir.lstrip("/")
    (image / destination).mkdir(parents=True)
    shutil.copy(project / lock, image / destination)
    (install,) = [step for step in jobs.all("RUN") if "--require-hashes" in step]
    assert f"--require-hashes --no-deps -r {lock}" in install
    (record,) = [part for part in install.split(" && ") if part.startswith("sha256sum ")]
    run(["sh", "-c", record], image)
    clone = tmp_path / "clone"
    shutil.copytree(project / "requirements", clone / "requirements")
    for name, pod in job_pods(parsed).items():
        (check,) = [
            line
            for line in pod["containers"][0]["args"][0].splitlines()
            if "sha256sum --check" in line
        ]
        check = check.replace(f"{image_workdir}/", f"{image}/")
        run(["sh", "-ec", check], clone)
        (clone / lock).write_text((project / lock).read_text() + "# edited\n")
        refused = subprocess.run(["sh", "-ec", check], cwd=clone, capture_output=True, text=True)
        assert refused.returncode == 1, name
        assert "rebuild and push it (docs/deployment.md, Kubernetes)" in refused.stderr
        shutil.copy(project / lock, clone / lock)


@pytest.mark.slow
def test_the_projects_own_kubernetes_tests_pass(project: Path, tmp_path: Path) -> None:
    """The bake's tests/test_kubernetes.py (its make test) runs in no other bake: run it on a
    deploy=kubernetes bake with the set-up project's environment. Its module has another
    name, so the tests import the bake's code, not the set-up project's."""
    baked = bake(tmp_path, deploy="kubernetes", **AWKWARD)
    env = {key: value for key, value in os.environ.items() if not key.startswith("VIRTUAL_ENV")}
    env["PYTHONPATH"] = str(baked / "src")
    pytest_ = [str(project / ".venv/bin/pytest"), "-q", "-p", "no:cacheprovider"]
    result = run([*pytest_, "tests/test_kubernetes.py"], baked, env=env)
    assert "2 passed" in result.stdout, result.stdout
