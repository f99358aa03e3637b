"""The data scientist's path on the shared, set-up project: notebooks, tuning, experiments.

Slow: each test installs or runs something in the project baked by the ``project`` fixture,
and puts the project back as it found it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run

pytestmark = pytest.mark.slow

NOTEBOOK = "notebooks/01-tmpl-explore.ipynb"
# Runs inside the project's interpreter: execute the notebook top to bottom, as a person would
# in JupyterLab (working folder notebooks/), and save it with its outputs.
EXECUTE = """
import sys
import nbclient, nbformat
notebook = nbformat.read(sys.argv[1], as_version=4)
nbclient.NotebookClient(notebook, timeout=300, resources={"metadata": {"path": "notebooks"}}).execute()
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
