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


def experiments_by_c(project: Path) -> dict[float, dict[str, Any]]:
    """The experiments DVC holds, by their model.params.C: name and model metrics."""
    shown = json.loads(run([".venv/bin/dvc", "exp", "show", "--json"], project).stdout)
    found = {}
    for baseline in shown:
        for experiment in baseline.get("experiments") or []:
            for revision in experiment["revs"]:
                data = revision.get("data") or {}
                params = data.get("params", {}).get("params.yaml", {}).get("data", {})
                metrics = data.get("metrics", {}).get("reports/metrics.json", {}).get("data", {})
                if revision.get("name") and metrics:
                    found[params["model"]["params"]["C"]] = {
                        "name": revision["name"],
                        "model": metrics["model"],
                    }
    return found


def test_tune_queue_compare_and_apply_experiments_through_make(project: Path) -> None:
    """A tuned variant, a resumed search, two queued variants compared, one applied.

    It commits the shared project (DVC experiments start from a commit) and puts it back
    as it found it: no commit, no experiment, the original params, reports and model.
    """
    run(["git", "add", "-A"], project)
    run(["git", "commit", "--quiet", "--no-verify", "-m", "Baseline"], project)
    try:
        # One variant, tuning on: the tune stage searches and train fits the best params.
        run(["make", "experiment", "SET=tune.trials=2 tune.cv_folds=2"], project)
        best = json.loads((project / "reports/tune/best.json").read_text(encoding="utf-8"))
        assert (best["enabled"], best["trials"]) == (True, 2)
        metadata = json.loads((project / "models/metadata.json").read_text(encoding="utf-8"))
        fitted = metadata["params"]["model"]["params"]
        assert {name: fitted[name] for name in best["params"]} == best["params"]
        # make tune again resumes the study: it already holds its 2 trials, so none is added.
        run(["make", "tune"], project)
        trials = (project / "reports/tune/trials.csv").read_text(encoding="utf-8").splitlines()
        assert len(trials) == 1 + 2
        run(["git", "checkout", "--", "."], project)  # back to the baseline's params

        run(["make", "experiments-queue", "SET=model.params.C=0.01,10", "JOBS=2"], project)
        variants = experiments_by_c(project)
        assert {0.01, 10} <= set(variants)
        assert variants[0.01]["model"] != variants[10]["model"]
        table = run(["make", "experiments"], project, env={**os.environ, "COLUMNS": "300"})
        assert variants[0.01]["name"] in table.stdout
        assert variants[10]["name"] in table.stdout

        run(["make", "experiment-apply", f"NAME={variants[10]['name']}"], project)
        params = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))
        assert params["model"]["params"]["C"] == 10
        metrics = json.loads((project / "reports/metrics.json").read_text(encoding="utf-8"))
        assert metrics["model"] == variants[10]["model"]
    finally:
        run(["git", "checkout", "--", "."], project)
        run([".venv/bin/dvc", "exp", "remove", "--all-commits"], project)
        run([".venv/bin/dvc", "queue", "remove", "--all"], project)
        shutil.rmtree(project / "models/tune", ignore_errors=True)
        run(["git", "update-ref", "-d", "HEAD"], project)  # back to "no commit yet"
        run(["make", "train"], project)  # DVC's run cache restores the original model
