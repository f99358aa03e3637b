"""The Kubernetes manifests stay in step with the project (deploy/kubernetes)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from {{ cookiecutter.module_name }}.config import Settings

MANIFESTS = ("deploy", "kubernetes")


def test_the_configmap_holds_params_yaml_as_it_is(settings: Settings) -> None:
    configmap = yaml.safe_load(
        settings.root.joinpath(*MANIFESTS, "configmap.yaml").read_text(encoding="utf-8")
    )
    params = (settings.root / "params.yaml").read_text(encoding="utf-8")
    assert configmap["data"]["params.yaml"] == params, (
        "deploy/kubernetes/configmap.yaml differs from params.yaml: run make k8s-config"
    )


def test_make_k8s_config_rewrites_the_configmap_from_params_yaml(
    settings: Settings, tmp_path: Path
) -> None:
    for name in ("Makefile", "params.yaml"):
        shutil.copy(settings.root / name, tmp_path / name)
    shutil.copytree(settings.root / "deploy", tmp_path / "deploy")
    configmap = tmp_path.joinpath(*MANIFESTS, "configmap.yaml")
    before = configmap.read_text(encoding="utf-8")
    params = tmp_path / "params.yaml"
    edited = params.read_text(encoding="utf-8").replace(
        "reload_interval: 2.0", "reload_interval: 5.0"
    )
    params.write_text(edited + "\n# a note: kept\n", encoding="utf-8")

    result = subprocess.run(
        ["make", "k8s-config"], cwd=tmp_path, capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "kubectl apply -f deploy/kubernetes/configmap.yaml" in result.stdout
    written = configmap.read_text(encoding="utf-8")
    assert yaml.safe_load(written)["data"]["params.yaml"] == params.read_text(encoding="utf-8")
    header = before.split("  params.yaml: |\n")[0]
    assert written.startswith(header)
