"""deploy=kubernetes: the manifests validate against the Kubernetes API's schemas.

kubernetes-validate bundles the schemas of every Kubernetes release: no cluster and no
network. The manifests depend only on the project's names (every other answer bakes the
same files, which the option matrix checks), so a default bake and one with awkward
answers cover every combination.
"""

from __future__ import annotations

import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml
from helpers import AWKWARD, KUBERNETES_MANIFESTS, bake

KIND_OF = {
    "configmap": "ConfigMap",
    "cronjob-drift": "CronJob",
    "cronjob-retrain": "CronJob",
    "deployment": "Deployment",
    "hpa": "HorizontalPodAutoscaler",
    "pdb": "PodDisruptionBudget",
    "service": "Service",
}


@pytest.fixture(scope="module", params=["default", "awkward"])
def manifests(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(project folder, name -> parsed manifest) of a deploy=kubernetes bake."""
    answers = AWKWARD if request.param == "awkward" else {}
    project = bake(tmp_path_factory.mktemp(request.param), deploy="kubernetes", **answers)
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
