"""``make retrain``: pull the data, rerun the pipeline, score the candidate against prod.

The steps, any of which may stop the run: (1) ``make pull`` (the DVC-tracked data; with
no remote, what the local cache holds, and the report says so), (2) ``dvc repro`` (the
pipeline, with evaluate's gate against the naive baseline), (3) the candidate and the
prod model scored on the same holdout by the registry's gate, (4) the candidate
registered as a version, (5) the report (``paths.retrain_report`` and its HTML twin),
written whatever happened. Nothing here moves the prod pointer: a candidate waits for a
person's ``make promote``.

The pipeline runs in the workspace (not in a job folder like ``POST /retrain``) because a
version must be reproducible from a commit: only ``dvc repro`` writes the ``dvc.lock``
that registration tags. With ``commit=True`` (``make retrain COMMIT=1``, the scheduled
workflow) the new ``dvc.lock`` is committed so the candidate can be registered; without
it the report says which command registers it, since committing on someone's branch is
their call.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from {{ cookiecutter.module_name }}.config import (
    ConfigError,
    Settings,
)
from {{ cookiecutter.module_name }}.prediction.loader import (
    ModelLoadError,
    load_model,
)
from {{ cookiecutter.module_name }}.prediction.store import ModelStore
from {{ cookiecutter.module_name }}.registry import (
    champion,
    commands,
    records,
    report,
    tags,
)
from {{ cookiecutter.module_name }}.registry.gate import compare
from {{ cookiecutter.module_name }}.registry.lineage import RegistryError
from {{ cookiecutter.module_name }}.registry.outcome import (
    ModelFacts,
    Outcome,
    facts,
    failed,
)
from {{ cookiecutter.module_name }}.schema import SchemaError
from {{ cookiecutter.module_name }}.storage import (
    UntrustedArtifactError,
    read_json,
)
from {{ cookiecutter.module_name }}.training.data import DataError
from {{ cookiecutter.module_name }}.training.evaluate import QualityGateError
from {{ cookiecutter.module_name }}.training.train import TrainingError

LOG_TAIL = 20
# Errors a step can meet; each becomes "retrain failed at <step>: <message>".
STEP_ERRORS = (
    RegistryError,
    ModelLoadError,
    ConfigError,
    DataError,
    SchemaError,
    TrainingError,
    QualityGateError,
    UntrustedArtifactError,
    OSError,
)

Say = Callable[[str], None]


class StepFailed(RuntimeError):
    """One step of the retrain failed; ``log_tail`` holds the end of its output."""

    def __init__(self, step: str, detail: str, log_tail: tuple[str, ...] = ()) -> None:
        super().__init__(detail)
        self.step = step
        self.log_tail = log_tail


@dataclass(frozen=True)
class Steps:
    """The two steps that run outside this process; tests pass in-process stand-ins.

    ``pull`` returns a note for the report (e.g. "no DVC remote: used the local cache").
    """

    pull: Callable[[Settings], str]
    repro: Callable[[Settings], None]


def run_command(step: str, command: list[str], root: Path, say: Say = print) -> str:
    """Run one command in the project with this virtualenv first on PATH; its output.

    The whole output is echoed (it is the cron or CI log); a failure raises StepFailed
    naming the command's first error line and keeping the last lines for the report.
    """
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    try:
        result = subprocess.run(
            command,
            cwd=root,
            env={**os.environ, "PATH": path},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise StepFailed(step, f"{command[0]} is not installed: run make setup") from None
    output = result.stdout
    if output:
        say(output.rstrip("\n"))
    if result.returncode != 0:
        lines = [line for line in output.splitlines() if line.strip()]
        errors = [line for line in lines if line.lower().lstrip().startswith("error")]
        first = errors[0].strip() if errors else (lines[-1].strip() if lines else "no output")
        detail = f"`{' '.join(command)}` exited with {result.returncode}: {first}"
        raise StepFailed(step, detail, tuple(lines[-LOG_TAIL:]))
    return output


def make_pull(settings: Settings) -> str:
    """``make pull``: the DVC remote's data, or the local cache when there is no remote."""
    output = run_command("pull", ["make", "--no-print-directory", "pull"], settings.root)
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return f"make pull: {lines[-1] if lines else 'the DVC-tracked data is up to date'}"


def dvc_repro(settings: Settings) -> None:
    """``dvc repro``: rebuild what changed, ``dvc.lock`` included (run_command puts this
    virtualenv's ``dvc`` first on PATH)."""
    run_command("pipeline", ["dvc", "repro"], settings.root)


DEFAULT_STEPS = Steps(pull=make_pull, repro=dvc_repro)


@contextmanager
def step(name: str, at: list[str]) -> Iterator[None]:
    """Record that step ``name`` runs (in ``at``); turn a user-facing error into StepFailed."""
    at[:] = [name]
    try:
        yield
    except StepFailed:
        raise
    except STEP_ERRORS as error:
        raise StepFailed(name, str(error)) from None


def restore_command(settings: Settings) -> str:
    """The command that puts the committed pipeline outputs back after a dvc repro.

    DVC's autostage has already staged the new dvc.lock, so ``git checkout dvc.lock``
    (from the index) would keep it: check the records out of HEAD, then let ``make pull``
    check out the outputs that dvc.lock names (from the cache, or the remote)."""
    return f"git checkout HEAD -- {' '.join(records.pipeline_records(settings))} && make pull"


def _commit(settings: Settings, message: str) -> str:
    """The exact commands that commit the pipeline's records and register the model."""
    files = " ".join(records.pipeline_records(settings))
    return f"`git add {files} && git commit -m {shlex.quote(message)} && make register`"


def registered_facts(settings: Settings, candidate: ModelFacts, version: str) -> ModelFacts:
    """A candidate that is an already registered version: named as that version, with the
    commit of its tag (not the one this retrain ran on)."""
    tagged = tags.list_versions(settings.root, settings.registry.artifact)
    commit = next((t.commit for t in tagged if t.version == version), None)
    return replace(
        candidate,
        name=f"candidate (= {version}, already registered)",
        commit=commit,
        uncommitted=commit is None and candidate.uncommitted,
    )


def retrain(
    settings: Settings, steps: Steps | None = None, commit: bool = False, say: Say = print
) -> Outcome:
    """Run the retrain and write the report; a failed step is an outcome, not an exception."""
    progress: dict[str, Any] = {}
    at = ["start"]
    try:
        outcome = _retrain(settings, steps or DEFAULT_STEPS, commit, say, progress, at)
    except StepFailed as failure:
        outcome = failed(failure.step, str(failure), failure.log_tail, progress)
    except Exception as error:  # a bug, not a user error: still a report, and the traceback
        traceback.print_exc()
        detail = f"unexpected {type(error).__name__}: {error} (traceback in the log)"
        outcome = failed(at[0], detail, (), progress)
    report.write(settings, outcome)
    return outcome


def _retrain(
    settings: Settings,
    steps: Steps,
    commit: bool,
    say: Say,
    progress: dict[str, Any],
    at: list[str],
) -> Outcome:
    root, paths, metric = settings.root, settings.paths, settings.evaluate.metric
    if commit:
        with step("check", at):
            records.require_clean_tree(settings)
    say("retrain: pulling the data (make pull)")
    with step("pull", at):
        progress["pulled"] = steps.pull(settings)
    say("retrain: running the pipeline (dvc repro)")
    with step("pipeline", at):
        steps.repro(settings)
    say("retrain: scoring the candidate and prod on the same holdout")
    with step("compare", at):
        trusted = settings.serving.trusted_types
        candidate = load_model(paths.model, paths.metadata, trusted, runtime="sklearn")
        prod = champion.find(settings)
        champion_version = prod.version
        comparison = compare(settings, candidate, prod.model)
        if prod.problem:
            comparison = replace(comparison, champion_problem=prod.problem)
        name = f"candidate (trained as {candidate.version})"
        progress["candidate"] = facts(candidate, name, comparison.candidate_scores)
        progress["comparison"] = comparison
        progress["champion_source"] = prod.source
        if comparison.champion_scores is not None:  # set only when prod was scored
            scores = comparison.champion_scores
            progress["champion"] = facts(prod.model, f"prod {champion_version}", scores)
    with step("register", at):
        known = records.registered_as(settings)
        message = f"Retrain: {metric} {comparison.candidate:.4f} on data " + ", ".join(
            md5[:8] for md5 in progress["candidate"].data.values()
        )
    if not comparison.passed and comparison.champion_problem is None:
        if known is not None:
            progress["candidate"] = registered_facts(settings, progress["candidate"], known)
        return Outcome(
            status="worse",
            summary=(
                f"The candidate's {metric} {comparison.candidate:.4f} is worse than prod "
                f"{champion_version}'s {comparison.champion:.4f} by more than "
                f"registry.tolerance {comparison.tolerance}: "
                + (f"it is {known}, registered before." if known else "it was not registered.")
            ),
            next_steps=(
                f"Prod is untouched: {champion_version} keeps serving.",
                "Look at the data and the metrics above."
                + ("" if known else " To register it anyway: " + _commit(settings, message)),
                f"To drop it: `{restore_command(settings)}` puts the committed pipeline "
                "outputs back (dvc repro staged the new dvc.lock: checking it out from HEAD "
                "undoes that too).",
            ),
            version=known,
            **progress,
        )
    if known is not None:
        progress["candidate"] = registered_facts(settings, progress["candidate"], known)
        where = " and in prod" if known == champion_version else ""
        return Outcome(
            status="unchanged",
            summary=f"Nothing new: the candidate is {known}, already registered{where}.",
            next_steps=(
                "Nothing was registered or promoted; prod is untouched.",
                *(() if where else (f"To put it in prod: `make promote VERSION={known}`.",)),
            ),
            version=known,
            **progress,
        )
    with step("register", at):
        if commit:
            records.commit_records(settings, message)
        if not records.lock_is_committed(root):
            return Outcome(
                status="unregistered",
                summary=(
                    "The candidate passed the gate; it is not registered yet because dvc.lock "
                    "has uncommitted changes (a version must name the commit that reproduces it)."
                ),
                next_steps=(
                    "To register it: " + _commit(settings, message) + " (or run `make retrain "
                    "COMMIT=1` next time); then review and `make promote VERSION=<the version "
                    "it prints>`.",
                    f"To drop it: `{restore_command(settings)}` puts the committed pipeline "
                    "outputs back.",
                ),
                **progress,
            )
        version = commands.register(settings, say=say)
        stored = read_json(ModelStore.from_settings(settings).metadata_path(version))
        progress["candidate"] = replace(
            progress["candidate"],
            name=f"candidate {version}",
            commit=stored.get("lineage", {}).get("git_commit"),
            uncommitted=False,
        )
    summary = f"Candidate {version} is registered and awaits approval; prod is untouched."
    next_steps = (
        f"Review the numbers above, then: `make promote VERSION={version}` "
        "(it runs the same gate and asks you to confirm).",
        f"On another machine: `git fetch --tags && make promote VERSION={version}` (the "
        "store copy comes from the tag and the DVC remote).",
    )
    if comparison.champion_problem:
        needs = "NEW_SCHEMA=1 (a new dataset)" if comparison.new_schema else "FORCE='reason'"
        summary += f" Warning: {comparison.champion_problem}; promoting needs {needs}."
    return Outcome(
        status="registered", summary=summary, next_steps=next_steps, version=version, **progress
    )
