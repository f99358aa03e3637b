"""The data scientist's path on the shared, set-up project: notebooks, tuning, experiments.

Slow: each test installs or runs something in the project baked by the ``project`` fixture,
and puts the project back as it found it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import run

pytestmark = pytest.mark.slow

NOTEBOOK = "notebooks/01-tmpl-explore.ipynb"
# Runs inside the project's interpreter: execute the notebook top to bottom, as a person would
# in JupyterLab (working folder notebooks/), and save it with its outputs.
EXECUTE = """
import sys
import nbclient, nbformat
notebook = nbformat.read(sys.argv[1], as_version=4)
where = {"metadata": {"path": "notebooks"}}
nbclient.NotebookClient(notebook, timeout=300, resources=where).execute()
nbformat.write(notebook, sys.argv[2])
"""


def test_the_exploration_notebook_runs_top_to_bottom_and_the_hook_strips_its_outputs(
    project: Path,
) -> None:
    run(["make", "notebook-install"], project)
    executed = project / "notebooks/99-tt-executed.ipynb"  # a notebook a person ran and saved
    try:
        run([".venv/bin/python", "-c", EXECUTE, NOTEBOOK, str(executed)], project)
        cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
        outputs = [output for cell in cells for output in cell.get("outputs", [])]
        assert not [output for output in outputs if output["output_type"] == "error"]
        shown = json.dumps(outputs)
        assert "rows_kept" in shown  # the last cell ran: what prepare keeps
        assert "image/png" in shown  # the histograms were drawn
        # The git hook clears what running it added (it exits 1 because it changed the file).
        hook = [".venv/bin/pre-commit", "run", "nbstripout", "--files", str(executed)]
        run(["bash", "-c", '"$@" || true', "hook", *hook], project)
        stripped = json.loads(executed.read_text(encoding="utf-8"))["cells"]
        assert all(not cell.get("outputs") for cell in stripped)
        assert all(cell.get("execution_count") is None for cell in stripped)
    finally:
        executed.unlink(missing_ok=True)


def experiments(project: Path) -> dict[str, dict[str, Any]]:
    """The experiments DVC holds, by name: their params and model metrics."""
    shown = json.loads(run([".venv/bin/dvc", "exp", "show", "--json"], project).stdout)
    found = {}
    for baseline in shown:
        for experiment in baseline.get("experiments") or []:
            for revision in experiment["revs"]:
                data = revision.get("data") or {}
                params = data.get("params", {}).get("params.yaml", {}).get("data", {})
                metrics = data.get("metrics", {}).get("reports/metrics.json", {}).get("data", {})
                if revision.get("name") and metrics:
                    found[revision["name"]] = {"params": params, "model": metrics["model"]}
    return found


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by its relative path, with its content."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_experiments_run_queue_compare_apply_tune_and_register_through_make(
    project: Path,
) -> None:
    """A variant run here; two queued (one with a search) and compared; the best applied,
    its search rebuilt by make tune, committed and registered with its params.

    It commits the shared project (DVC experiments start from a commit) and puts it back
    as it found it: no commit, tag, experiment or model store; its params, reports and model.
    """
    run(["git", "add", "-A"], project)
    run(["git", "commit", "--quiet", "--no-verify", "-m", "Baseline"], project)
    baseline = run(["git", "rev-parse", "HEAD"], project).stdout.strip()
    # Git without its hooks: the post-checkout hook's dvc checkout is not needed to undo.
    git = ["git", "-c", "core.hooksPath=/dev/null"]
    try:
        # One variant, in the workspace: a stricter gate, so only evaluate runs again.
        run(["make", "experiment", "SET=evaluate.min_improvement=0.2"], project)
        assert read_json(project / "reports/metrics.json")["gate"]["min_improvement"] == 0.2
        run([*git, "checkout", "--", "."], project)

        # Two variants queued and run by 2 workers: C=0.01 as set, and a 2-trial search.
        grid = "SET=tune.trials=0,2 tune.cv_folds=2 model.params.C=0.01"
        run(["make", "experiments-queue", grid, "JOBS=2"], project)
        found = experiments(project)
        gates = {name: e["params"]["evaluate"]["min_improvement"] for name, e in found.items()}
        (single,) = [name for name, gate in gates.items() if gate == 0.2]
        queued = {e["params"]["tune"]["trials"]: n for n, e in found.items() if n != single}
        assert set(queued) == {0, 2}
        plain, tuned = found[queued[0]], found[queued[2]]
        assert plain["model"] != tuned["model"]
        table = run(["make", "experiments"], project, env={**os.environ, "COLUMNS": "300"})
        rows = {name: line for name in found for line in table.stdout.splitlines() if name in line}
        assert set(rows) == {single, *queued.values()}
        metric = tuned["params"]["evaluate"]["metric"]
        assert tuned["model"][metric] > plain["model"][metric]  # the search found a better C
        shown = f"{plain['model'][metric]:.5g}"  # as DVC rounds it
        assert shown in rows[queued[0]].split()
        assert shown not in rows[queued[2]].split()

        # The best applied: its params, search results, model and metrics become the workspace's.
        run(["make", "experiment-apply", f"NAME={queued[2]}"], project)
        params = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))
        assert params["tune"]["trials"] == 2
        best = read_json(project / "reports/tune/best.json")
        assert (best["enabled"], best["trials"]) == (True, 2)
        trials = (project / "reports/tune/trials.csv").read_bytes()
        assert len(trials.splitlines()) == 1 + 2  # one row per trial: a DVC plot
        live = folder_bytes(project / "reports/tune/live")  # each trial as a DVCLive step
        assert len(live[f"plots/metrics/{best['metric']}.tsv"].splitlines()) == 1 + 2
        metadata = read_json(project / "models/metadata.json")
        fitted = metadata["params"]["model"]["params"]
        assert {name: fitted[name] for name in best["params"]} == best["params"]
        assert read_json(project / "reports/metrics.json")["model"] == tuned["model"]

        # make tune runs the search again here (a new study: the queued one stayed in its
        # copy of the project); the same seed gives the same trials and best params.
        run(["make", "tune"], project)
        assert (project / "models/tune/study.db").is_file()
        assert read_json(project / "reports/tune/best.json") == best
        assert (project / "reports/tune/trials.csv").read_bytes() == trials
        assert folder_bytes(project / "reports/tune/live") == live  # no timestamps
        # docs/experiments.md: the trials, one plot per metric, in dvc_plots/index.html.
        run([".venv/bin/dvc", "plots", "show", "reports/tune/live/plots/metrics"], project)
        page = (project / "dvc_plots/index.html").read_text(encoding="utf-8")
        assert f"reports/tune/live/plots/metrics/{best['metric']}.tsv" in page

        # Committed and registered: the version carries the applied params and its commit.
        run(["git", "add", "-A"], project)
        run(["git", "commit", "--quiet", "--no-verify", "-m", "Tuned C"], project)
        assert "Registered v1.0.0" in run(["make", "register"], project).stdout
        version = read_json(project / "models/registry/versions/v1.0.0/metadata.json")
        assert version["params"] == metadata["params"]
        head = run(["git", "rev-parse", "HEAD"], project).stdout.strip()
        assert version["lineage"]["git_commit"] == head
        shown = run(["make", "metrics"], project).stdout  # what a newcomer reads next
        assert "reports/metrics.json" in shown
        assert "reports/tune/best.json" in shown
        assert "reports/tune/live/metrics.json" in shown
    finally:
        run([*git, "reset", "--quiet", "--hard", baseline], project)
        run([".venv/bin/dvc", "exp", "remove", "--all-commits"], project)
        run([".venv/bin/dvc", "queue", "remove", "--all"], project)
        shutil.rmtree(project / "models/tune", ignore_errors=True)
        shutil.rmtree(project / "dvc_plots", ignore_errors=True)
        shutil.rmtree(project / "models/registry", ignore_errors=True)
        tags = run(["git", "tag", "--list", "model*"], project).stdout.split()
        if tags:
            run(["git", "tag", "--delete", *tags], project)
        run(["git", "update-ref", "-d", "HEAD"], project)  # back to "no commit yet"
        run(["make", "train"], project)  # DVC's run cache restores the original model
