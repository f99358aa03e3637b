"""`make retrain`: pull, pipeline, candidate vs champion, report, registration; never promotion.

The projects are the registry tests' throw-away git repositories (``Project``). The two
outside steps are stand-ins: "pull" returns a note, "repro" runs the pipeline in-process
and writes dvc.lock the way ``dvc repro`` does; failures run real commands.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

import test_registry
from {{ cookiecutter.module_name }}.config import (
    PARAMS_ENV,
    Settings,
)
from {{ cookiecutter.module_name }}.registry import (
    commands,
    jobs,
    listing,
    report,
    retrain,
)
from {{ cookiecutter.module_name }}.registry.__main__ import main as registry_main
from {{ cookiecutter.module_name }}.registry.lineage import RegistryError
from {{ cookiecutter.module_name }}.registry.outcome import (
    EXIT_FAILED,
    EXIT_WORSE,
    Outcome,
)
from {{ cookiecutter.module_name }}.registry.retrain import (
    Steps,
    run_command,
)
from {{ cookiecutter.module_name }}.storage import read_json, write_json

# The registry tests' throw-away project and helpers, shared rather than copied.
Project = test_registry.Project
STUMP, quiet, yes = test_registry.STUMP, test_registry.quiet, test_registry.yes
PULLED = "test stand-in: the data is already here"


def pipeline(project: Project) -> Steps:
    """Steps whose repro trains the project in-process from its committed params."""

    def repro(_settings: Settings) -> None:
        project.train()

    return Steps(pull=lambda _settings: PULLED, repro=repro)


def write_params(project: Project) -> None:
    (project.root / "params.yaml").write_text(
        yaml.safe_dump(project.params, sort_keys=False), encoding="utf-8"
    )


def set_params(project: Project, section: str, **values: object) -> None:
    """Change one params.yaml section and commit it, as a person would before a retrain."""
    project.params[section] = {**project.params[section], **values}
    write_params(project)
    project.commit(f"Change {section}")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def model_tags(project: Project) -> list[str]:
    return project.git("tag", "--list", "model@*").split()


def recorded(project: Project, version: str) -> dict[str, float]:
    """The scores ``evaluate`` recorded for a version on its test split (not the gate's)."""
    return read_json(project.store().metadata_path(version))["metrics"]["model"]


def read_report(settings: Settings) -> tuple[str, str]:
    paths = settings.paths
    return (
        paths.retrain_report.read_text(encoding="utf-8"),
        paths.retrain_report_html.read_text(encoding="utf-8"),
    )


@pytest.fixture(scope="module")
def stump_in_prod(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """v1, a one-split tree, in prod: a champion any real model clearly beats."""
    project = Project(tmp_path_factory.mktemp("retrain") / "project", settings)
    project.params["evaluate"] = {**project.params["evaluate"], "min_improvement": 0}
    original = dict(project.params["model"])
    project.train(**STUMP)
    project.commit("Train the stump")
    commands.register(project.settings, say=quiet)
    commands.promote(project.settings, "v1", yes, say=quiet)
    project.params["model"] = original  # the next retrain trains the project's own model
    write_params(project)
    project.commit("Back to the project's model")
    return project


@pytest.fixture
def project(stump_in_prod: Project, tmp_path: Path) -> Project:
    """A private copy of ``stump_in_prod`` (git, tags and store) for one test."""
    copy = Project.__new__(Project)
    copy.root = tmp_path / "project"
    copy.params = {
        key: dict(value) if isinstance(value, dict) else value
        for key, value in stump_in_prod.params.items()
    }
    shutil.copytree(stump_in_prod.root, copy.root, symlinks=True)
    return copy


def test_report_names_candidate_and_champion_metrics(project: Project) -> None:
    store_before = project.store().pointer_path.read_bytes()
    outcome = retrain.retrain(project.settings, pipeline(project), commit=True, say=quiet)
    assert (outcome.status, outcome.version, outcome.exit_code) == ("registered", "v2.0.0", 0)
    markdown, page = read_report(project.settings)
    candidate, champion = recorded(project, "v2.0.0"), recorded(project, "v1.0.0")
    assert candidate["f1_macro"] > champion["f1_macro"]  # the numbers differ: no lucky match
    assert "| metric (same holdout) | candidate v2.0.0 | prod v1.0.0 | change |" in markdown
    for metric, value in candidate.items():
        label = f"{metric} (gate)" if metric == "f1_macro" else metric
        other = champion[metric]
        row = f"| {label} | {value:.4f} | {other:.4f} | {value - other:+.4f} |"
        assert row in markdown
        assert f"<td>{value:.4f}</td><td>{other:.4f}</td>" in page
    # The verdict, then the comparison in one sentence, before any table.
    gate = outcome.comparison
    said = (
        f"On the same holdout the candidate's f1_macro is {gate.candidate:.4f}, better than "
        f"prod v1.0.0's {gate.champion:.4f} ({gate.candidate - gate.champion:+.4f})."
    )
    assert markdown.split("\n\n")[1:3] == [outcome.summary, said]
    assert "Gate: passed" in markdown
    assert "registry.tolerance 0.02" in markdown
    assert "`make promote VERSION=v2.0.0`" in markdown
    assert "<code>make promote VERSION=v2.0.0</code>" in page
    assert PULLED in markdown
    v2_commit = project.git("rev-list", "-n", "1", "model@v2.0.0")
    assert v2_commit[:12] in markdown
    assert project.store().pointer_path.read_bytes() == store_before


def test_the_candidate_is_registered_not_promoted(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    audit_before = project.store().audit_path.read_bytes()
    retrain.retrain(project.settings, pipeline(project), commit=True, say=quiet)
    assert project.store().read_pointer().version == "v1.0.0"
    assert project.store().audit_path.read_bytes() == audit_before
    assert project.served_version() == "v1.0.0"
    rows, warnings = listing.list_models(project.settings)
    assert [(row.version, row.stage) for row in rows] == [
        ("v2.0.0", "never promoted"),
        ("v1.0.0", "prod"),
    ]
    assert warnings == []
    # The commit made for it holds the pipeline's records only (dvc.lock, metrics, plot
    # data), with a message naming score and data.
    shown = project.git("show", "--name-only", "--format=%s", "model@v2.0.0^{commit}")
    assert shown.splitlines() == [
        f"Retrain: f1_macro {recorded(project, 'v2.0.0')['f1_macro']:.4f} on data "
        + next(
            iter(read_json(project.store().metadata_path("v2.0.0"))["lineage"]["data"].values())
        )[:8],
        "",
        "dvc.lock",
        "reports/metrics.json",
        "reports/predictions.csv",
    ]
    monkeypatch.setenv(PARAMS_ENV, str(project.root / "params.yaml"))
    assert registry_main(["models"]) == 0
    assert "v2.0.0" in capsys.readouterr().out


def test_first_retrain_with_no_champion(settings: Settings, tmp_path: Path) -> None:
    project = Project(tmp_path / "project", settings)
    write_params(project)
    project.commit("The project, not trained yet")
    outcome = retrain.retrain(project.settings, pipeline(project), commit=True, say=quiet)
    assert (outcome.status, outcome.version, outcome.champion) == ("registered", "v1.0.0", None)
    assert project.store().read_pointer() is None
    markdown, _ = read_report(project.settings)
    assert "no model is in prod yet" in markdown
    score = recorded(project, "v1.0.0")["f1_macro"]
    assert f"| f1_macro (gate) | {score:.4f} |\n" in markdown
    assert model_tags(project) == ["model@v1.0.0"]


def test_a_worse_candidate_is_flagged_and_not_registered(project: Project) -> None:
    # Prod is the stump; the candidate always predicts the majority class (evaluate lets
    # it through: min_improvement is 0 in this project).
    set_params(project, "model", estimator="sklearn.dummy.DummyClassifier", params={})
    tags_before, store_before = model_tags(project), snapshot(project.store().root)
    outcome = retrain.retrain(project.settings, pipeline(project), commit=True, say=quiet)
    assert (outcome.status, outcome.exit_code) == ("worse", EXIT_WORSE)
    assert "To register it anyway: `git add dvc.lock" in outcome.next_steps[1]
    champion = recorded(project, "v1.0.0")["f1_macro"]
    markdown, page = read_report(project.settings)
    assert "candidate worse than prod, not registered" in markdown
    assert f"prod v1.0.0's {champion:.4f}" in markdown
    assert "Gate: refused" in markdown
    assert "worse than prod" in page
    assert model_tags(project) == tags_before
    assert snapshot(project.store().root) == store_before


def broken_data(project: Project) -> None:
    """Replace the raw data with rows that lack the target column."""
    raw = project.settings.paths.raw_data
    frame = pd.read_csv(raw, dtype=str, keep_default_na=False)  # a quoted header stays whole
    frame.drop(columns=[project.settings.feature_schema.target]).to_csv(raw, index=False)


def test_a_failed_retrain_leaves_prod_untouched_and_says_why(project: Project) -> None:
    broken_data(project)
    project.commit("New data without the target")
    store_before, tags_before = snapshot(project.store().root), model_tags(project)
    outcome = retrain.retrain(project.settings, pipeline(project), commit=True, say=quiet)
    assert (outcome.status, outcome.failed_step, outcome.exit_code) == ("failed", "pipeline", 1)
    target = project.settings.feature_schema.target
    assert target in outcome.summary
    markdown, page = read_report(project.settings)
    assert "FAILED, prod untouched" in markdown
    assert outcome.summary.startswith("Retrain failed at the pipeline step: ")
    assert outcome.summary in markdown
    assert "Prod is untouched" in page
    assert snapshot(project.store().root) == store_before
    assert model_tags(project) == tags_before
    assert project.served_version() == "v1.0.0"


def test_a_failed_command_is_reported_with_its_output(project: Project) -> None:
    failing = [
        sys.executable,
        "-c",
        "print('fetching'); print('ERROR: remote unreachable'); exit(4)",
    ]
    steps = Steps(
        pull=lambda settings: run_command("pull", failing, settings.root, say=quiet),
        repro=lambda _settings: pytest.fail("the pipeline must not run after a failed pull"),
    )
    store_before = snapshot(project.store().root)
    outcome = retrain.retrain(project.settings, steps, say=quiet)
    assert (outcome.status, outcome.failed_step) == ("failed", "pull")
    assert "exited with 4: ERROR: remote unreachable" in outcome.summary
    markdown, _ = read_report(project.settings)
    assert "## End of the pull step's output" in markdown
    assert "```text\nfetching\nERROR: remote unreachable\n```" in markdown
    assert snapshot(project.store().root) == store_before


def test_commit_mode_refuses_other_uncommitted_changes(project: Project) -> None:
    params = project.root / "params.yaml"
    params.write_text(params.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    steps = Steps(
        pull=lambda _settings: pytest.fail("nothing may run before the check"),
        repro=lambda _settings: None,
    )
    outcome = retrain.retrain(project.settings, steps, commit=True, say=quiet)
    assert (outcome.status, outcome.failed_step) == ("failed", "check")
    assert (
        "uncommitted changes to params.yaml: a retrain with COMMIT=1 commits only dvc.lock, reports/metrics.json, reports/predictions.csv"
        in outcome.summary
    )


def test_without_commit_the_candidate_waits_for_a_commit(project: Project) -> None:
    outcome = retrain.retrain(project.settings, pipeline(project), say=quiet)
    assert (outcome.status, outcome.exit_code, outcome.version) == ("unregistered", 0, None)
    assert model_tags(project) == ["model@v1.0.0"]
    markdown, _ = read_report(project.settings)
    assert (
        "`git add dvc.lock reports/metrics.json reports/predictions.csv && git commit -m 'Retrain: "
        in markdown
    )
    assert "' && make register`" in markdown
    # Trained by dvc repro, whose dvc.lock is not committed: no commit made it yet.
    assert "| git commit | uncommitted changes on " in markdown
    assert (
        "`git checkout HEAD -- dvc.lock reports/metrics.json reports/predictions.csv && make pull`"
        in markdown
    )


def test_the_command_line_exit_codes(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(PARAMS_ENV, str(project.root / "params.yaml"))
    monkeypatch.setattr(retrain, "DEFAULT_STEPS", pipeline(project))
    assert registry_main(["retrain", "--commit"]) == 0
    assert "Candidate v2.0.0 is registered and awaits approval" in capsys.readouterr().out
    set_params(project, "model", estimator="sklearn.dummy.DummyClassifier", params={})
    # --check (cron, CI) exits 3 on a worse candidate; by hand it is a verdict in words, exit 0.
    assert registry_main(["retrain", "--check", "--commit"]) == EXIT_WORSE
    assert "is worse than prod v1.0.0's" in capsys.readouterr().err  # v2 was not promoted
    assert registry_main(["retrain"]) == 0
    assert "is worse than prod v1.0.0's" in capsys.readouterr().out
    broken_data(project)
    project.commit("Broken data")
    for check in ([], ["--check"]):  # a failed step fails both
        assert registry_main(["retrain", *check]) == EXIT_FAILED
        err = capsys.readouterr().err
        assert "Retrain failed at the pipeline step" in err
        assert "reports/retrain.md" in err


def test_an_unexpected_error_still_writes_a_report(project: Project) -> None:
    def crash(_settings: Settings) -> None:
        raise KeyError("no_such_column")

    store_before = snapshot(project.store().root)
    outcome = retrain.retrain(project.settings, Steps(lambda _s: PULLED, crash), say=quiet)
    assert (outcome.status, outcome.failed_step, outcome.exit_code) == ("failed", "pipeline", 1)
    assert "unexpected KeyError: 'no_such_column'" in outcome.summary
    assert outcome.summary in read_report(project.settings)[0]
    assert snapshot(project.store().root) == store_before


def test_the_html_report_escapes_what_it_quotes(settings: Settings) -> None:
    outcome = Outcome(
        status="failed",
        summary="Retrain failed at the pull step: <script>alert(1)</script> & `make pull`",
        failed_step="pull",
        log_tail=("ERROR: <b>not bold</b>",),
    )
    page = report.to_html(report.blocks(settings, outcome))
    assert "<script>" not in page
    assert "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; <code>make pull</code>" in page
    assert "ERROR: &lt;b&gt;not bold&lt;/b&gt;" in page


def test_without_the_store_the_champion_comes_from_the_git_tags(project: Project) -> None:
    # This project has git tags but no DVC: the champion is named, and why it cannot be read.
    shutil.rmtree(project.store().root)
    outcome = retrain.retrain(project.settings, pipeline(project), commit=True, say=quiet)
    assert (outcome.status, outcome.version) == ("registered", "v2.0.0")
    assert outcome.comparison.champion_problem.startswith(
        "prod v1.0.0 (from the git tags) cannot be read through DVC"
    )
    markdown, _ = read_report(project.settings)
    assert "Gate: cannot compare: prod v1.0.0 (from the git tags)" in markdown
    assert "promoting needs FORCE='reason'" in markdown
    assert project.store().read_pointer() is None


def test_a_retrain_that_reproduces_a_version_registers_nothing(project: Project) -> None:
    retrain.retrain(project.settings, pipeline(project), commit=True, say=quiet)
    commits = project.git("rev-list", "--count", "HEAD")
    again = retrain.retrain(project.settings, pipeline(project), commit=True, say=quiet)
    assert (again.status, again.version, again.exit_code) == ("unchanged", "v2.0.0", 0)
    assert "Nothing new: the candidate is v2.0.0, already registered." in again.summary
    assert model_tags(project) == ["model@v1.0.0", "model@v2.0.0"]
    assert project.git("rev-list", "--count", "HEAD") == commits
    assert "nothing new" in read_report(project.settings)[0]


def test_register_job_refuses_what_no_commit_here_reproduces(project: Project) -> None:
    """make register JOB=<id> (its success runs through DVC in the template's end-to-end
    test): an unknown, unfinished or failed job, or one trained elsewhere, is refused."""
    settings = project.settings
    with pytest.raises(RegistryError, match="no retrain job 'nope'"):
        jobs.register_job(settings, "nope", say=quiet)
    job_id = "0" * 32
    folder = settings.paths.retrain_jobs / job_id
    folder.mkdir(parents=True)
    write_json(folder / "status.json", {"job_id": job_id, "status": "failed"})
    with pytest.raises(RegistryError, match="is 'failed', not 'succeeded'"):
        jobs.register_job(settings, job_id, say=quiet)
    write_json(folder / "status.json", {"job_id": job_id, "status": "succeeded"})
    shutil.copy2(settings.paths.model, folder / f"model{settings.paths.model.suffix}")
    metadata = read_json(settings.paths.metadata)
    source = {**metadata["source"], "git_commit": "0123456789abcdef", "git_dirty": True}
    write_json(folder / f"metadata{settings.paths.metadata.suffix}", {**metadata, "source": source})
    tags_before = model_tags(project)
    with pytest.raises(RegistryError, match="trained on uncommitted changes on 0123456789ab"):
        jobs.register_job(settings, job_id, say=quiet)
    assert model_tags(project) == tags_before


def test_a_worse_candidate_that_is_a_registered_version_is_named_not_sent_to_register(
    project: Project,
) -> None:
    assert retrain.retrain(project.settings, pipeline(project), commit=True, say=quiet).version
    commands.promote(project.settings, "v2", yes, say=quiet)
    set_params(project, "model", **STUMP)  # v1's inputs again: worse than v2, registered
    outcome = retrain.retrain(project.settings, pipeline(project), commit=True, say=quiet)
    assert (outcome.status, outcome.version) == ("worse", "v1.0.0")
    assert outcome.summary.endswith("it is v1.0.0, registered before.")
    assert not any("make register" in step for step in outcome.next_steps)
    markdown, _ = read_report(project.settings)
    assert "candidate (= v1.0.0, already registered)" in markdown
    v1_commit = project.git("rev-list", "-n", "1", "model@v1.0.0")
    assert f"| git commit | {v1_commit[:12]} |" in markdown  # its tag's, not this checkout's
    assert "make register" not in markdown
