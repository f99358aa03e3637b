"""Each trial of a search as one DVCLive step, so ``dvc plots`` and ``dvc exp show`` see it.

Written from the trials table once the study ends, in the main process: parallel trials run
in other processes, and one writer keeps the steps in trial order. Step ``n`` is trial
``n``; a trial that failed has no value, so its step is missing from the value's plot.
DVCLive's own git and DVC hooks are off, nothing here reaches the network (DVC Studio is
kept offline) and nothing differs between two runs with the same seed: no timestamps, no
report, no dvc.yaml edits (the ``tune`` stage declares the folder).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

# DVCLive posts to DVC Studio when a token is configured; these steps stay on this machine.
OFFLINE = {"DVC_STUDIO_OFFLINE": "true"}
PARAM_PREFIX = "params."


@contextmanager
def _offline() -> Iterator[None]:
    """Studio off while DVCLive runs, whatever the environment or DVC config says."""
    saved = {key: os.environ.get(key) for key in OFFLINE}
    os.environ.update(OFFLINE)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _number(value: Any) -> float | int | None:
    """A value DVCLive can plot: numbers and booleans (as 0/1); None for text or missing."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value)):
        return value
    return None


def _step_name(column: str, metric: str) -> str | None:
    """The DVCLive name of a trials.csv column (None: not logged)."""
    if column == "value":
        return metric
    if column == "best":
        return "best"
    if column.startswith(PARAM_PREFIX):
        return "params/" + column.removeprefix(PARAM_PREFIX)
    return None


def log_trial_steps(table: pd.DataFrame, metric: str, folder: Path) -> None:
    """One step per trial in ``folder``: the trial's value under ``metric``, the best so far
    (``best``) and each numeric param (``params/<name>``; text choices stay in trials.csv).
    The folder's metrics.json is the last step's, plots/metrics/ holds every step."""
    from dvclive import Live

    class StepsOnly(Live):
        """DVCLive without its git and DVC hooks, which the stage does not need (no
        experiment to save, no dvc.yaml to write) and which fail in a repository with no
        commit yet (a fresh project's first ``make train``)."""

        def _init_dvc(self) -> None:
            return None

    folder.mkdir(parents=True, exist_ok=True)
    options = {"report": None, "save_dvc_exp": False, "dvcyaml": False, "monitor_system": False}
    with _offline(), StepsOnly(str(folder), **options) as live:
        for row in table.round(6).to_dict("records"):
            live.step = int(row["trial"])
            for name, value in row.items():
                key = _step_name(str(name), metric)
                number = _number(value)
                if key is not None and number is not None:
                    live.log_metric(key, number)
    best = folder / "plots" / "metrics" / "best.tsv"
    if not best.exists():  # no trial (tuning off): a header, so git keeps the DVC output
        best.parent.mkdir(parents=True, exist_ok=True)
        best.write_text("step\tbest\n", encoding="utf-8")
