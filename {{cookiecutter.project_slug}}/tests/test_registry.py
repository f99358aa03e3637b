"""The model registry: versions, the champion/challenger gate, promotion, rollback, audit.

Each test works in a throw-away git repository holding this project's params.yaml,
pointed at synthetic data built here (whatever data the project trains on, the models
these tests compare must rank the same way: a real model beats a one-split stump, which
beats always answering the majority class). Models are trained in-process; ``dvc.lock`` is written the way ``dvc repro``
records it (md5 of each stage's deps and outs), so the registry's checks run for real.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from {{ cookiecutter.module_name }} import storage
from {{ cookiecutter.module_name }}.config import (
    PARAMS_ENV,
    Settings,
    load_settings,
)
from {{ cookiecutter.module_name }}.prediction import vetting
from {{ cookiecutter.module_name }}.prediction.store import (
    ModelStore,
    Pointer,
)
from {{ cookiecutter.module_name }}.registry import (
    champion,
    commands,
    listing,
    next_step,
    publish,
    tags,
)
from {{ cookiecutter.module_name }}.registry.__main__ import main as registry_main
from {{ cookiecutter.module_name }}.registry.lineage import (
    RegistryError,
    md5_file,
)
from {{ cookiecutter.module_name }}.serving.app import create_app
from {{ cookiecutter.module_name }}.storage import read_json
from {{ cookiecutter.module_name }}.training.data import (
    run_prepare,
    run_split,
)
from {{ cookiecutter.module_name }}.training.evaluate import run_evaluate
from {{ cookiecutter.module_name }}.training.train import run_train

# A worse but still certified model (it beats the naive baseline, not the champion).
STUMP = {"estimator": "sklearn.tree.DecisionTreeClassifier", "params": {"max_depth": 1}}


def other_imputer(settings: Settings) -> str:
    """A params change that keeps the model about as good: the other numeric imputer."""
    return "mean" if settings.model.numeric_imputer != "mean" else "median"


def yes(_question: str) -> bool:
    return True


def no(_question: str) -> bool:
    return False


def quiet(_text: str) -> None:
    """Swallow the commands' messages (tests assert on state, not on prose)."""


SYNTHETIC_ROWS = 400
SYNTHETIC_RAW = "data/raw/synthetic.csv"


def synthetic_data(path: Path) -> None:
    """Integer classes 0/1 set by two numeric columns (a stump sees one) and a categorical
    one with gaps: a linear model scores near 1, a stump clearly less, the majority class
    far less."""
    rng = np.random.default_rng(7)
    x1, x2 = rng.normal(size=SYNTHETIC_ROWS), rng.normal(size=SYNTHETIC_ROWS)
    group = rng.choice(["a", "b", ""], SYNTHETIC_ROWS)
    frame = pd.DataFrame({"x1": x1, "x2": x2, "group": group, "y": (x1 + x2 > 0).astype(int)})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def synthetic_params(params: dict[str, Any]) -> dict[str, Any]:
    """This project's params with the schema, model and metric of the synthetic data."""
    params = {**params, "paths": {**params["paths"], "raw_data": SYNTHETIC_RAW}}
    params["data"] = {**params["data"], "min_rows": 50}
    params["schema"] = {"target": "y", "numeric": ["x1", "x2"], "categorical": ["group"]}
    params["split"] = {**params["split"], "stratify": True}
    params["model"] = {
        **params["model"],
        "estimator": "sklearn.linear_model.LogisticRegression",
        "params": {"C": 1.0, "max_iter": 1000},
    }
    params["evaluate"] = {
        **params["evaluate"],
        "metric": "f1_macro",
        "baseline_strategy": "most_frequent",
    }
    params["batch"] = {**params["batch"], "id_columns": []}
    log = params["monitoring"]["log"]
    params["monitoring"] = {**params["monitoring"], "log": {**log, "exclude": [], "hash": []}}
    return params


class Project:
    """A git repository with this project's params on synthetic data, trained in-process."""

    def __init__(self, root: Path, source: Settings) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        params = yaml.safe_load((source.root / "params.yaml").read_text(encoding="utf-8"))
        self.params = synthetic_params(params)
        synthetic_data(root / SYNTHETIC_RAW)
        (root / "params.yaml").write_text(
            yaml.safe_dump(self.params, sort_keys=False), encoding="utf-8"
        )
        self.git("init", "--quiet")
        self.git("config", "user.name", "Test Person")
        self.git("config", "user.email", "person@example.com")
        (root / ".gitignore").write_text("/data/interim/\n/data/processed/\n/models/\n/.dvc/\n")

    def git(self, *args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=self.root, capture_output=True, text=True, check=True
        )
        return result.stdout.strip()

    @property
    def settings(self) -> Settings:
        return load_settings(self.root / "params.yaml", environ={})

    def train(self, **model: Any) -> Settings:
        """Write params.yaml (model section changed), run the pipeline, write dvc.lock."""
        self.params["model"] = {**self.params["model"], **model}
        text = yaml.safe_dump(self.params, sort_keys=False)
        (self.root / "params.yaml").write_text(text, encoding="utf-8")
        settings = self.settings
        for stage in (run_prepare, run_split, run_train, run_evaluate):
            stage(settings)
        self.write_lock(settings)
        return settings

    def write_lock(self, settings: Settings) -> None:
        paths = settings.paths

        def entry(path: Path) -> dict[str, str]:
            return {"path": path.relative_to(self.root).as_posix(), "md5": md5_file(path)}

        stages = {
            "prepare": {"deps": [entry(paths.raw_data)], "outs": [entry(paths.clean_data)]},
            "split": {
                "deps": [entry(paths.clean_data)],
                "outs": [entry(paths.train_data), entry(paths.test_data)],
            },
            "train": {
                "deps": [entry(paths.train_data)],
                "params": {"params.yaml": {"model": settings.model.model_dump(mode="json")}},
                "outs": [entry(paths.model)],
            },
            "evaluate": {
                "deps": [entry(paths.model), entry(paths.test_data)],
                "outs": [
                    entry(paths.onnx_model),
                    entry(paths.reference_profile),
                    entry(paths.metadata),
                ],
            },
        }
        lock = {"schema": "2.0", "stages": stages}
        (self.root / "dvc.lock").write_text(yaml.safe_dump(lock), encoding="utf-8")

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "--quiet", "-m", message)
        return self.git("rev-parse", "HEAD")

    def store(self) -> ModelStore:
        return ModelStore(self.settings.paths.registry)

    def served_version(self) -> str:
        response = create_app(self.settings).test_client().get("/metadata")
        assert response.status_code == 200, response.get_json()
        return response.get_json()["version"]


def cache_outputs(project: Project) -> dict[str, Path]:
    """Put every output dvc.lock records into DVC's cache layout, as `dvc repro` does.

    The .dvc folder is git-ignored here (this test repository is not a DVC project)."""
    lock = yaml.safe_load((project.root / "dvc.lock").read_text(encoding="utf-8"))
    cached = {}
    for stage in lock["stages"].values():
        for out in stage["outs"]:
            md5 = out["md5"]
            target = project.root / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(project.root / out["path"], target)
            cached[out["path"]] = target
    return cached


@pytest.fixture(scope="module")
def two_versions(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """v1 (a logistic regression) in prod, v2 (a worse stump) registered but not promoted."""
    project = Project(tmp_path_factory.mktemp("registry") / "project", settings)
    project.train()
    cache_outputs(project)
    project.commit("Train v1")
    commands.register(project.settings, say=quiet)
    commands.promote(project.settings, "v1", yes, say=quiet)
    # The stump only has to be certified, not good: no margin over the baseline needed.
    project.params["evaluate"] = {**project.params["evaluate"], "min_improvement": 0}
    project.train(**STUMP)
    cache_outputs(project)
    project.commit("Train a stump")
    commands.register(project.settings, say=quiet)
    return project


@pytest.fixture
def project(two_versions: Project, tmp_path: Path) -> Project:
    """A private copy of ``two_versions`` (git tags and store included) for one test."""
    copy = Project.__new__(Project)
    copy.root = tmp_path / "project"
    copy.params = dict(two_versions.params)
    shutil.copytree(two_versions.root, copy.root, symlinks=True)
    return copy


def audit(project: Project) -> list[dict[str, Any]]:
    return publish.read_audit(project.store())


def test_registered_version_names_commit_data_hash_and_everything_else(
    two_versions: Project,
) -> None:
    store = two_versions.store()
    metadata = read_json(store.metadata_path("v1.0.0"))
    v1_commit = two_versions.git("rev-list", "-n", "1", "model@v1.0.0")
    assert metadata["version"] == "v1.0.0"
    assert metadata["lineage"]["git_commit"] == v1_commit
    raw = two_versions.settings.paths.raw_data
    relative = raw.relative_to(two_versions.root).as_posix()
    assert metadata["lineage"]["data"] == {relative: md5_file(raw)}
    assert metadata["lineage"]["registered_by"] == "Test Person <person@example.com>"
    artifact = store.artifact_path("v1.0.0", metadata)
    assert metadata["artifact"]["sha256"] == storage.sha256_file(artifact)
    for key in ("schema", "metrics", "params", "libraries"):
        assert metadata[key], key
    assert two_versions.git("tag", "--list", "model@*").split() == ["model@v1.0.0", "model@v2.0.0"]


def test_register_refuses_a_dvc_lock_that_is_not_committed(
    settings: Settings, tmp_path: Path
) -> None:
    project = Project(tmp_path / "project", settings)
    project.train()
    with pytest.raises(RegistryError, match="no git commit yet"):
        commands.register(project.settings, say=quiet)
    project.commit("Train v1")
    project.train(numeric_imputer=other_imputer(settings))
    with pytest.raises(RegistryError, match="not committed"):
        commands.register(project.settings, say=quiet)
    assert not project.store().versions_root.exists()


def test_register_refuses_a_model_that_dvc_lock_does_not_describe(project: Project) -> None:
    lock_path = project.root / "dvc.lock"
    lock = yaml.safe_load(lock_path.read_text(encoding="utf-8"))
    lock["stages"]["train"]["outs"][0]["md5"] = "0" * 32
    lock_path.write_text(yaml.safe_dump(lock), encoding="utf-8")
    project.commit("A dvc.lock from another run")
    with pytest.raises(RegistryError, match=r"dvc.lock does not describe models/model.skops"):
        commands.register(project.settings, say=quiet)


def test_registering_the_same_model_twice_gives_the_same_version(project: Project) -> None:
    assert commands.register(project.settings, say=quiet) == "v2.0.0"
    assert project.git("tag", "--list", "model@*").split() == ["model@v1.0.0", "model@v2.0.0"]


def test_registering_a_tagged_commit_again_keeps_when_and_by_whom(project: Project) -> None:
    store = project.store()
    before = read_json(store.metadata_path("v2.0.0"))["lineage"]
    shutil.rmtree(store.version_dir("v2.0.0"))  # the store lost its copy; the tag remains
    project.git("config", "user.name", "Someone Else")
    assert commands.register(project.settings, say=quiet) == "v2.0.0"
    after = read_json(store.metadata_path("v2.0.0"))["lineage"]
    assert (after["registered_at"], after["registered_by"]) == (
        before["registered_at"],
        before["registered_by"],
    )


@pytest.fixture
def worse(project: Project) -> Project:
    """The project, on data where the stump really is worse than v1 beyond tolerance.

    Judged from the scores ``evaluate`` recorded on the same test split, not by the gate
    under test, so a gate that lets everything through fails instead of skipping.
    """
    settings = project.settings
    store = project.store()
    metric = settings.evaluate.metric
    v1, v2 = (
        read_json(store.metadata_path(version))["metrics"]["model"][metric]
        for version in ("v1.0.0", "v2.0.0")
    )
    if v2 >= v1 - settings.registry.tolerance:
        pytest.skip("on this data a one-split tree is as good as the model: no worse candidate")
    return project


def test_gate_refuses_a_candidate_worse_than_prod_and_says_how_to_force(
    worse: Project,
) -> None:
    project = worse
    with pytest.raises(RegistryError) as refused:
        commands.promote(project.settings, "v2", yes, say=quiet)
    message = str(refused.value)
    assert "candidate v2.0.0 f1_macro" in message
    assert "worse than prod v1.0.0" in message
    assert "tolerance 0.02" in message
    assert "make promote VERSION=v2.0.0 FORCE=" in message
    assert project.store().read_pointer().version == "v1.0.0"
    assert project.served_version() == "v1.0.0"


def test_force_with_a_reason_promotes_and_the_audit_log_says_so(worse: Project) -> None:
    project = worse
    commands.promote(project.settings, "v2", yes, force="A/B test of the stump", say=quiet)
    assert project.store().read_pointer().version == "v2.0.0"
    last = audit(project)[-1]
    assert last["event"] == "promote"
    assert (last["from"], last["to"]) == ("v1.0.0", "v2.0.0")
    assert last["forced"] is True
    assert last["reason"] == "A/B test of the stump"
    assert last["by"] == "Test Person <person@example.com>"
    assert last["metrics"]["candidate"] < last["metrics"]["champion"]
    assert last["at"].endswith("+00:00")
    assert project.served_version() == "v2.0.0"


def test_a_new_dataset_needs_new_schema_instead_of_a_gate_failure(project: Project) -> None:
    # A model of other columns (as after `make adopt`): prod cannot be scored on its holdout.
    project.params["schema"] = {**project.params["schema"], "numeric": ["x1"]}
    project.train()
    cache_outputs(project)
    project.commit("Adopt a dataset with other columns")
    version = commands.register(project.settings, say=quiet)
    with pytest.raises(RegistryError) as refused:
        commands.promote(project.settings, version, yes, say=quiet)
    message = str(refused.value)
    assert "prod v1.0.0 was trained on another dataset" in message
    assert f"make promote VERSION={version} NEW_SCHEMA=1" in message
    assert "FORCE" not in message
    assert project.store().read_pointer().version == "v1.0.0"
    said: list[str] = []
    assert commands.promote(project.settings, version, yes, say=said.append, new_schema=True)
    assert project.store().read_pointer().version == version
    assert any("NEW_SCHEMA=1 confirms" in line for line in said)
    last = audit(project)[-1]
    assert last["metrics"]["new_schema"] is True


def test_the_command_line_passes_new_schema_on(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bool] = []
    monkeypatch.setenv(PARAMS_ENV, str(project.root / "params.yaml"))
    monkeypatch.setattr(
        commands, "promote", lambda *args, **kwargs: calls.append(kwargs["new_schema"])
    )
    assert registry_main(["promote", "--new-schema", "--yes", "v2"]) == 0
    assert calls == [True]


def test_promotion_without_a_persons_yes_changes_nothing(project: Project) -> None:
    before = audit(project)
    assert commands.promote(project.settings, "v2", no, force="x", say=quiet) is False
    assert project.store().read_pointer().version == "v1.0.0"
    assert audit(project) == before


def test_the_command_line_refuses_to_promote_without_confirmation(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(PARAMS_ENV, str(project.root / "params.yaml"))
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert registry_main(["promote", "v2", "--force", "testing"]) == 1
    assert "YES=1" in capsys.readouterr().err
    assert project.store().read_pointer().version == "v1.0.0"
    assert registry_main(["promote", "v2", "--force", "testing", "--yes"]) == 0
    assert project.store().read_pointer().version == "v2.0.0"


def test_a_tampered_artifact_is_refused_and_prod_keeps_serving(project: Project) -> None:
    store = project.store()
    metadata = read_json(store.metadata_path("v2.0.0"))
    artifact = store.artifact_path("v2.0.0", metadata)
    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    with pytest.raises(RegistryError, match=r"dvc\.lock.*prod keeps serving v1\.0\.0"):
        commands.promote(project.settings, "v2", yes, force="x", say=quiet)
    assert store.read_pointer().version == "v1.0.0"
    assert project.served_version() == "v1.0.0"


def plant_in_store(project: Project, version: str, artifact: bytes) -> None:
    """Replace a stored version's artifact and make its metadata's sha256 match, as anyone
    who can write the store could: only the git tag's dvc.lock still tells them apart."""
    store = project.store()
    metadata = read_json(store.metadata_path(version))
    target = store.artifact_path(version, metadata)
    target.write_bytes(artifact)
    metadata["artifact"]["sha256"] = storage.sha256_file(target)
    storage.write_json(store.metadata_path(version), metadata)


def test_a_version_replaced_with_matching_metadata_is_refused_before_it_is_opened(
    project: Project,
) -> None:
    store = project.store()
    v1 = store.artifact_path("v1.0.0", read_json(store.metadata_path("v1.0.0")))
    plant_in_store(project, "v2.0.0", v1.read_bytes())  # a real model, but not v2's
    with pytest.raises(RegistryError, match=r"model@v2\.0\.0 registered.*dvc\.lock") as refused:
        commands.promote(project.settings, "v2", yes, force="x", say=quiet)
    assert "prod keeps serving v1.0.0" in str(refused.value)
    assert store.read_pointer().version == "v1.0.0"
    plant_in_store(project, "v2.0.0", b"not even a zip file")  # refused unopened
    with pytest.raises(RegistryError, match=r"dvc\.lock at the tag records"):
        commands.promote(project.settings, "v2", yes, force="x", say=quiet)


def test_servers_refuse_a_prod_version_changed_since_its_promotion(project: Project) -> None:
    """Servers have no git: the pointer's record of what was vetted tells them apart."""
    store = project.store()
    v2 = store.artifact_path("v2.0.0", read_json(store.metadata_path("v2.0.0")))
    plant_in_store(project, "v1.0.0", v2.read_bytes())  # a real model, with matching metadata
    ready = create_app(project.settings).test_client().get("/health/ready")
    assert ready.status_code == 503
    detail = ready.get_json()["detail"]
    assert "v1.0.0 in the store is not what was vetted at its promotion" in detail


def test_with_the_store_key_a_pointer_must_carry_its_seal(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(vetting.KEY_ENV, "a secret the registry and servers share")
    commands.promote(project.settings, "v2", yes, force="x", say=quiet)
    sealed = read_json(project.store().pointer_path)
    assert sealed["vetted"]["v2.0.0"]["artifact"] == audit(project)[-1]["sha256"]
    assert project.served_version() == "v2.0.0"
    # Whoever can write the store but lacks the key cannot vouch for other files.
    forged = {**sealed, "vetted": {**sealed["vetted"], "v2.0.0": {"artifact": "0" * 64}}}
    storage.write_json(project.store().pointer_path, forged)
    ready = create_app(project.settings).test_client().get("/health/ready")
    assert ready.status_code == 503
    assert "is not sealed with this server's" in ready.get_json()["detail"]
    storage.write_json(project.store().pointer_path, sealed)
    monkeypatch.setenv(vetting.KEY_ENV, "another secret")
    assert create_app(project.settings).test_client().get("/health/ready").status_code == 503


def test_a_replaced_prod_version_is_no_champion_for_a_retrain(project: Project) -> None:
    plant_in_store(project, "v1.0.0", b"planted")
    found = champion.find(project.settings)
    assert found.model is None
    assert "dvc.lock at the tag records" in (found.problem or "")


def test_a_crash_between_the_git_tag_and_the_pointer_leaves_prod_on_v1(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_args: Any) -> None:
        raise KeyboardInterrupt("killed between two writes")

    monkeypatch.setattr(publish, "write_pointer", crash)
    with pytest.raises(KeyboardInterrupt):
        commands.promote(project.settings, "v2", yes, force="x", say=quiet)
    monkeypatch.undo()
    assert project.store().read_pointer().version == "v1.0.0"
    assert project.served_version() == "v1.0.0"
    # The audit line went first: the interrupted promotion is on record, and reported.
    assert [event["to"] for event in audit(project)] == ["v1.0.0", "v2.0.0"]
    lines = listing.render(project.settings)
    assert lines[0].startswith("v1.0.0 is in prod since "), lines
    _, warnings = listing.list_models(project.settings)
    assert any("git tags say prod is v2.0.0 but the store serves v1.0.0" in w for w in warnings)
    assert any("an unfinished promote to v2.0.0" in w for w in warnings), warnings
    said: list[str] = []
    commands.promote(project.settings, "v2", yes, force="x", say=said.append)  # settles it
    assert any("interrupted before prod moved; prod stayed on v1.0.0" in line for line in said)
    assert listing.list_models(project.settings)[1] == []
    events = [(event["event"], event["to"]) for event in audit(project)]
    assert events == [
        ("promote", "v1.0.0"),
        ("promote", "v2.0.0"),
        ("abandoned", "v1.0.0"),
        ("promote", "v2.0.0"),
    ]


def test_prod_never_moves_without_its_audit_line(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash right after the pointer's replacement (the process killed there) finds the
    move on record already: the audit line is written before the pointer moves."""
    write_pointer = publish.write_pointer

    def write_then_crash(*args: Any) -> None:
        write_pointer(*args)
        raise KeyboardInterrupt("killed just after the pointer moved")

    monkeypatch.setattr(publish, "write_pointer", write_then_crash)
    with pytest.raises(KeyboardInterrupt):
        commands.promote(project.settings, "v2", yes, force="x", say=quiet)
    monkeypatch.undo()
    assert project.store().read_pointer().version == "v2.0.0"
    newest = audit(project)[-1]
    assert (newest["event"], newest["from"], newest["to"]) == ("promote", "v1.0.0", "v2.0.0")
    assert listing.list_models(project.settings)[1] == []


def test_an_unfinished_change_is_settled_by_the_next_registry_command(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_args: Any) -> None:
        raise KeyboardInterrupt("killed between the audit line and the pointer")

    monkeypatch.setattr(publish, "write_pointer", crash)
    with pytest.raises(KeyboardInterrupt):
        commands.promote(project.settings, "v2", yes, force="x", say=quiet)
    monkeypatch.undo()
    assert commands.register(project.settings, say=quiet) == "v2.0.0"  # already registered
    assert audit(project)[-1]["event"] == "abandoned"
    assert not any("unfinished" in w for w in listing.list_models(project.settings)[1])
    assert listing.render(project.settings)[0].startswith("v1.0.0 is in prod since ")


def test_a_crash_while_writing_the_pointer_leaves_the_old_one_whole(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_args: Any) -> None:
        raise OSError("disk full")

    store = project.store()
    before = store.pointer_path.read_bytes()
    monkeypatch.setattr(storage.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        commands.promote(project.settings, "v2", yes, force="x", say=quiet)
    monkeypatch.undo()
    assert store.pointer_path.read_bytes() == before
    assert sorted(path.name for path in store.root.iterdir()) == [
        "audit.jsonl",
        "prod.json",
        "registry.lock",
        "versions",
    ]
    assert project.served_version() == "v1.0.0"


def test_rollback_steps_back_one_prod_version_at_a_time(project: Project) -> None:
    with pytest.raises(RegistryError, match="no earlier one"):
        commands.rollback(project.settings, yes, say=quiet)
    commands.promote(project.settings, "v2", yes, force="x", say=quiet)
    assert commands.rollback(project.settings, no, say=quiet) is False
    assert project.store().read_pointer().version == "v2.0.0"
    commands.rollback(project.settings, yes, reason="stump misbehaves", say=quiet)
    assert project.store().read_pointer().version == "v1.0.0"
    last = audit(project)[-1]
    assert (last["event"], last["from"], last["to"]) == ("rollback", "v2.0.0", "v1.0.0")
    assert last["reason"] == "stump misbehaves"
    assert project.git("describe", "--tags", "--exact-match", "model#prod#3")  # git knows too


def test_models_lists_versions_with_stage_metric_who_and_lineage(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows, warnings = listing.list_models(project.settings)
    assert warnings == []
    assert [(row.version, row.stage) for row in rows] == [
        ("v2.0.0", "never promoted"),
        ("v1.0.0", "prod"),
    ]
    assert rows[1].metric > rows[0].metric
    assert rows[1].commit == project.git("rev-list", "-n", "1", "model@v1.0.0")[:8]
    monkeypatch.setenv(PARAMS_ENV, str(project.root / "params.yaml"))
    assert registry_main(["models"]) == 0
    output = capsys.readouterr().out
    assert "VERSION  STAGE" in output
    assert "promote none -> v1.0.0  by Test Person" in output


def test_a_second_promotion_at_the_same_time_is_refused(project: Project) -> None:
    def promote_meanwhile(_question: str) -> bool:
        with pytest.raises(RegistryError, match="another registration, promotion or rollback"):
            commands.rollback(project.settings, yes, say=quiet)
        return True

    commands.promote(project.settings, "v2", promote_meanwhile, force="x", say=quiet)
    assert project.store().read_pointer().version == "v2.0.0"


def test_a_broken_prod_model_does_not_block_its_replacement(project: Project) -> None:
    store = project.store()
    artifact = store.artifact_path("v1.0.0", read_json(store.metadata_path("v1.0.0")))
    artifact.write_bytes(b"corrupted")
    with pytest.raises(RegistryError, match=r"prod v1\.0\.0 cannot be loaded"):
        commands.promote(project.settings, "v2", yes, say=quiet)
    commands.promote(project.settings, "v2", yes, force="prod is corrupted", say=quiet)
    assert project.served_version() == "v2.0.0"


def test_tags_need_a_git_identity(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(project.root / "no-such-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    project.git("config", "--unset", "user.name")
    with pytest.raises(RegistryError, match=r"git config user\.name"):
        commands.promote(project.settings, "v2", yes, force="x", say=quiet)
    assert project.store().read_pointer().version == "v1.0.0"


def test_promotion_exports_a_version_missing_from_the_store_from_dvc(project: Project) -> None:
    store = project.store()
    registered = read_json(store.metadata_path("v2.0.0"))
    shutil.rmtree(store.version_dir("v2.0.0"))
    project.settings.paths.model.unlink()  # the workspace plays no part: git tag + DVC cache
    messages: list[str] = []
    commands.promote(project.settings, "v2", yes, force="x", say=messages.append)
    assert any("exporting it from model@v2.0.0 and DVC" in text for text in messages)
    exported = read_json(store.metadata_path("v2.0.0"))
    assert exported["artifact"]["sha256"] == registered["artifact"]["sha256"]
    assert exported["lineage"]["git_commit"] == registered["lineage"]["git_commit"]
    assert exported["lineage"]["data"] == registered["lineage"]["data"]
    assert exported["lineage"]["restored_from"] == "dvc"
    assert project.served_version() == "v2.0.0"
    assert not [p for p in store.root.iterdir() if p.name.startswith(".restore")]


def test_rollback_exports_the_previous_version_when_the_store_lost_it(project: Project) -> None:
    commands.promote(project.settings, "v2", yes, force="x", say=quiet)
    store = project.store()
    v1 = read_json(store.metadata_path("v1.0.0"))
    shutil.rmtree(store.version_dir("v1.0.0"))
    assert commands.rollback(project.settings, yes, say=quiet)
    assert store.read_pointer().version == "v1.0.0"
    restored = read_json(store.metadata_path("v1.0.0"))
    assert restored["artifact"]["sha256"] == v1["artifact"]["sha256"]
    assert restored["lineage"]["git_commit"] == project.git("rev-list", "-n", "1", "model@v1.0.0")
    assert project.served_version() == "v1.0.0"


def test_a_version_neither_stored_nor_in_dvc_is_refused_and_prod_is_untouched(
    project: Project,
) -> None:
    store = project.store()
    shutil.rmtree(store.version_dir("v2.0.0"))
    shutil.rmtree(project.root / ".dvc")
    with pytest.raises(RegistryError, match=r"neither in DVC.s cache nor on the remote.*make pull"):
        commands.promote(project.settings, "v2", yes, force="x", say=quiet)
    assert store.read_pointer().version == "v1.0.0"
    assert not store.version_dir("v2.0.0").exists()
    assert not [p for p in store.root.iterdir() if p.name.startswith(".restore")]


def test_a_damaged_dvc_cache_is_refused(project: Project) -> None:
    store = project.store()
    shutil.rmtree(store.version_dir("v2.0.0"))
    model = cache_outputs(project)[
        project.settings.paths.model.relative_to(project.root).as_posix()
    ]
    model.write_bytes(model.read_bytes() + b"tampered")
    with pytest.raises(RegistryError, match=r"does not match the md5 in dvc\.lock"):
        commands.promote(project.settings, "v2", yes, force="x", say=quiet)
    assert store.read_pointer().version == "v1.0.0"
    assert not store.version_dir("v2.0.0").exists()


def test_unknown_and_malformed_versions_are_refused(project: Project) -> None:
    with pytest.raises(RegistryError, match="not a registered version"):
        commands.promote(project.settings, "v9", yes, say=quiet)
    with pytest.raises(RegistryError, match="not a version"):
        commands.promote(project.settings, "../../etc", yes, say=quiet)


@pytest.mark.parametrize(
    ("text", "version"),
    [("v2", "v2.0.0"), ("2", "v2.0.0"), ("v2.1", "v2.1.0"), ("v3.0.1", "v3.0.1")],
)
def test_versions_can_be_written_short(text: str, version: str) -> None:
    assert commands.normalize_version(text) == version


def test_the_server_refuses_a_pointer_that_names_no_version(project: Project) -> None:
    storage.write_json(project.store().pointer_path, {"version": "../../etc", "history": []})
    ready = create_app(project.settings).test_client().get("/health/ready")
    assert ready.status_code == 503
    assert "is not a model version" in ready.get_json()["detail"]


def test_an_audit_line_cut_by_a_crash_is_skipped(project: Project) -> None:
    store = project.store()
    with open(store.audit_path, "a", encoding="utf-8") as stream:
        stream.write('{"event": "promote", "to"')
    assert [event["to"] for event in publish.read_audit(store)] == ["v1.0.0"]


def test_before_any_promotion_the_unpromoted_model_is_served_and_marked(
    settings: Settings, tmp_path: Path
) -> None:
    project = Project(tmp_path / "project", settings)
    project.train()
    body = create_app(project.settings).test_client().get("/metadata").get_json()
    assert body["serving"]["stage"] == "unpromoted"
    strict = project.settings.model_copy(
        update={"serving": project.settings.serving.model_copy(update={"serve_unpromoted": False})}
    )
    ready = create_app(strict).test_client().get("/health/ready")
    assert ready.status_code == 503
    assert "make promote" in ready.get_json()["detail"]


def test_full_cycle_train_promote_retrain_promote_rollback(
    settings: Settings, tmp_path: Path
) -> None:
    project = Project(tmp_path / "project", settings)
    project.train()
    v1_commit = project.commit("Train v1")
    assert commands.register(project.settings, say=quiet) == "v1.0.0"
    commands.promote(project.settings, "v1", yes, say=quiet)
    assert project.served_version() == "v1.0.0"

    project.train(numeric_imputer=other_imputer(settings))
    project.commit("Train v2 with another imputer")
    assert commands.register(project.settings, say=quiet) == "v2.0.0"
    commands.promote(project.settings, "v2", yes, say=quiet)  # within tolerance: no FORCE
    assert project.served_version() == "v2.0.0"

    commands.rollback(project.settings, yes, reason="back to v1", say=quiet)
    app = create_app(project.settings)
    app.config.update(RETRAIN_TOKEN="operator")
    client = app.test_client()
    full = {"Authorization": "Bearer operator"}
    metadata = client.get("/metadata?full=1", headers=full).get_json()
    record = metadata["input_example"]
    answer = client.post("/predict", json=record).get_json()
    assert answer["model_version"] == "v1.0.0"
    assert metadata["lineage"]["git_commit"] == v1_commit
    assert metadata["serving"] == {"source": "registry", "stage": "prod"}
    events = [(e["event"], e["from"], e["to"]) for e in audit(project)]
    assert events == [
        ("promote", None, "v1.0.0"),
        ("promote", "v1.0.0", "v2.0.0"),
        ("rollback", "v2.0.0", "v1.0.0"),
    ]
    assert json.loads(project.store().audit_path.read_text().splitlines()[0])["by"]


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_give_the_mode_of_any_new_file(tmp_path: Path, mask: int, mode: int) -> None:
    """Reports, pointers and metadata are readable by whom the user's umask allows."""
    previous = os.umask(mask)
    try:
        storage.write_json(tmp_path / "report.json", {"a": 1})
    finally:
        os.umask(previous)

    assert stat.S_IMODE((tmp_path / "report.json").stat().st_mode) == mode
    assert [path.name for path in tmp_path.iterdir()] == ["report.json"]


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o755), (0o077, 0o700), (0o002, 0o775)])
def test_an_exported_version_folder_gets_the_mode_of_any_new_folder(
    two_versions: Project, tmp_path: Path, mask: int, mode: int
) -> None:
    """Not mkdtemp's 0700: others read a version only if the user's umask lets them."""
    paths = two_versions.settings.paths
    store = ModelStore(tmp_path / "store")
    previous = os.umask(mask)
    try:
        target = publish.export_version(store, "v9.9.9", paths.model, read_json(paths.metadata))
    finally:
        os.umask(previous)

    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert stat.S_IMODE((target / "metadata.json").stat().st_mode) == mode & 0o666
    assert [path.name for path in store.versions_root.iterdir()] == ["v9.9.9"]


# ``make models`` for a person: synthetic versions and audit entries in a temporary store.

LONG_NAME = "Annabelle Ottilie Featherstonehaugh-Lee"


def synthetic_store(settings: Settings, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Three tagged versions and their store copies; v1 then v2 promoted, v3 never."""
    settings = settings.with_paths(registry=folder / "registry")
    store = ModelStore(settings.paths.registry)
    people = f"{LONG_NAME} <annabelle.featherstonehaugh-lee@analytics.example.com>"
    tagged = []
    for number in (1, 2, 3):
        version = f"v{number}.0.0"
        lineage = {
            "registered_at": f"2026-12-0{number}T09:3{number}:17+00:00",
            "registered_by": people,
            "data": {f"data/raw/part{part}.csv": f"{part}" * 32 for part in range(4)},
        }
        metadata = {"metrics": {"model": {settings.evaluate.metric: 0.9 + number / 100}}}
        storage.write_json(store.metadata_path(version), {**metadata, "lineage": lineage})
        stages = (listing.PROD_STAGE,) if number == 2 else ()
        tagged.append(tags.TaggedVersion(version, "c" * 40, "", people, stages))
    monkeypatch.setattr(tags, "list_versions", lambda *_args: tagged[::-1])
    publish.write_pointer(store, Pointer("v2.0.0", ("v1.0.0",)))
    for when, source, target in (("01T10:00", None, "v1.0.0"), ("04T10:12", "v1.0.0", "v2.0.0")):
        entry = {"event": "promote", "from": source, "to": target, "forced": False}
        publish.append_audit(
            store,
            {
                **entry,
                "at": f"2026-12-{when}:41+00:00",
                "by": people,
                "reason": "better recall on the holdout, checked with the team " * 3,
            },
        )
    return settings


def test_models_opens_with_what_serves_since_when_and_who(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = listing.render(synthetic_store(settings, tmp_path, monkeypatch))
    assert lines[0] == f"v2.0.0 is in prod since 2026-12-04 10:12 UTC (promoted by {LONG_NAME})."


def test_models_fits_100_columns_newest_first_without_emails(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = listing.render(synthetic_store(settings, tmp_path, monkeypatch))
    text = "\n".join(lines)
    assert max(len(line) for line in lines) <= listing.WIDTH, text
    assert "@" not in text
    assert "example.com" not in text
    table = [re.split(r"\s{2,}", line) for line in lines[4:7]]  # after headline and header
    assert [row[0] for row in table] == ["v3.0.0", "v2.0.0", "v1.0.0"]
    assert [row[1] for row in table] == ["never promoted", "prod", "was prod"]
    assert table[0][3] == "2026-12-03 09:33"  # registered, in UTC, to the minute
    changes = lines[lines.index("Last changes to prod, newest first:") + 1 :]
    starts = [line.split()[:2] for line in changes if line.startswith("  2026")]
    assert starts == [["2026-12-04", "10:12"], ["2026-12-01", "10:00"]]


def test_models_says_when_nothing_is_in_prod(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tags, "list_versions", lambda *_args: [])
    empty = settings.with_paths(registry=tmp_path / "registry")
    text = "\n".join(listing.render(empty))
    assert text.startswith("No version is in prod yet: servers serve the last trained model")
    assert "No registered versions yet" in text


def test_models_headline_names_a_rollback_and_a_pointer_moved_by_hand() -> None:
    rollback = {"event": "rollback", "to": "v1.0.0", "at": "2026-12-04T10:12:00+00:00"}
    events = [{**rollback, "by": "Bo Chen <bo@example.com>"}]
    assert listing.headline(Pointer("v1.0.0"), events, serve_unpromoted=True) == (
        "v1.0.0 is in prod since 2026-12-04 10:12 UTC (rolled back to it by Bo Chen)."
    )
    assert listing.headline(Pointer("v2.0.0"), events, serve_unpromoted=True) == (
        "v2.0.0 is in prod (the audit log does not say since when or who)."
    )
    assert "servers serve nothing" in listing.headline(None, [], serve_unpromoted=False)
    lost = listing.headline(None, events, serve_unpromoted=True)  # prod.json deleted
    assert lost.startswith("No prod pointer, yet the audit log records a rollback to v1.0.0")


def test_display_names_drop_emails_and_times_are_utc() -> None:
    assert listing.display_name("Ann Lee <ann@example.com>") == "Ann Lee"
    assert listing.display_name("ann.lee@example.com") == "ann.lee"
    assert listing.display_time("2026-12-04T11:12:59+01:00") == "2026-12-04 10:12"


MAKEFILE = Path(__file__).resolve().parents[1] / "Makefile"


def run_as_printed(project: Project, line: str, answer: bytes = b"") -> str:
    """Run the last command of ``line`` (between backticks) through the project's Makefile,
    as a person would in a terminal (answering ``answer`` to a question); its output."""
    import pty  # POSIX only, as make and bash are

    command = line.split("`")[-2]
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    env[PARAMS_ENV] = str(project.root / "params.yaml")
    controller, terminal = pty.openpty()
    try:
        os.write(controller, answer)
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=project.root,
            env=env,
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        os.close(controller)
        os.close(terminal)
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.slow  # two registry commands in subprocesses (about 5 s)
@pytest.mark.skipif(shutil.which("make") is None, reason="make runs the printed commands")
def test_make_train_says_the_next_step_for_each_state_and_it_runs_as_printed(
    project: Project, settings: Settings
) -> None:
    """Issue 20 item 6: after `make train`, commit and register a new model; promote a
    registered one; nothing for the one in prod; register a committed one. The printed
    commands run through the project's Makefile in this test's repository."""
    shutil.copy(MAKEFILE, project.root / "Makefile")
    (project.root / ".venv").symlink_to(Path(sys.executable).parent.parent)
    with open(project.root / ".gitignore", "a", encoding="utf-8") as ignore:
        ignore.write("/.venv\n")

    logistic = synthetic_params(project.params)["model"]  # as good as v1: the gate lets it in
    project.train(**{**logistic, "numeric_imputer": other_imputer(settings)})  # not committed
    said = next_step.after_training(project.settings)
    assert "`git add -A && git commit -m 'Train the model' && make register`" in said
    assert "Registered v3.0.0" in run_as_printed(project, said)

    said = next_step.after_training(project.settings)
    assert said.startswith("This model is v3.0.0, already registered but not in prod.")
    assert "v3.0.0 is now in prod" in run_as_printed(project, said, answer=b"y\n")
    assert next_step.after_training(project.settings) == (
        "This model is v3.0.0, already registered and in prod: nothing to do."
    )

    project.train(params={**logistic["params"], "C": 0.5})
    project.commit("Train with C=0.5")
    # (`make register` ran above, at the end of the first state's command.)
    assert next_step.after_training(project.settings) == (
        "To make this model a version: `make register`"
    )
