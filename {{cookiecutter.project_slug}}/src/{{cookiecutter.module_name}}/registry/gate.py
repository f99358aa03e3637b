"""Champion/challenger: score the candidate and the prod model on the same holdout.

The holdout is the current test split (``paths.test_data``), which neither model saw
in training when both came from this pipeline. Each model reads it through its own
schema, so a model trained on other columns is reported as not comparable.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel
from {{ cookiecutter.module_name }}.registry.failures import one_line
from {{ cookiecutter.module_name }}.registry.lineage import RegistryError
from {{ cookiecutter.module_name }}.schema import SchemaError
from {{ cookiecutter.module_name }}.scoring import (
    improvement,
    score,
)
from {{ cookiecutter.module_name }}.training.data import (
    DataError,
    load_split,
    target_values,
)


@dataclass(frozen=True)
class Comparison:
    """The gate's verdict, with the numbers a person needs to judge it."""

    metric: str
    tolerance: float
    # Every metric ``evaluate`` reports on the holdout; the gate judges ``metric``.
    candidate_scores: dict[str, float]
    champion_scores: dict[str, float] | None = None
    champion_problem: str | None = None
    # Prod was trained on other columns or another target: a change of dataset, which no
    # holdout can judge; promotion then asks for NEW_SCHEMA=1 instead of failing the gate.
    new_schema: bool = False

    @property
    def candidate(self) -> float:
        """The candidate's score on the gate's metric."""
        return self.candidate_scores[self.metric]

    @property
    def champion(self) -> float | None:
        """Prod's score on the gate's metric, or None without a scored champion."""
        return None if self.champion_scores is None else self.champion_scores[self.metric]

    @property
    def passed(self) -> bool:
        """True when there is no champion, or the candidate is not worse beyond tolerance."""
        if self.champion_problem is not None:
            return False
        if self.champion is None:
            return True
        # A score must not fall, an error must not rise, by more than the tolerance.
        return improvement(self.metric, self.candidate, self.champion) >= -self.tolerance

    def to_json(self) -> dict[str, object]:
        """For the audit log."""
        return {
            "metric": self.metric,
            "tolerance": self.tolerance,
            "candidate": self.candidate,
            "champion": self.champion,
            "champion_problem": self.champion_problem,
            "new_schema": self.new_schema,
            "passed": self.passed,
        }


def holdout(settings: Settings) -> tuple[pd.DataFrame, pd.Series]:
    """The test split both models are scored on."""
    path = settings.paths.test_data
    try:
        features, target = load_split(path, settings)
    except DataError as error:
        raise RegistryError(f"no holdout to compare models on: {error}; run `make train`") from None
    if features.empty:
        raise RegistryError(
            f"the holdout {path} has no rows to compare models on: rebuild it with "
            "`make train` (dvc repro)"
        )
    return features, target


# What scikit-learn raises for data a fitted pipeline cannot take (NaN where its imputer
# saw none, a category it refuses, a dtype it cannot convert), besides our SchemaError.
UNSCORABLE = (SchemaError, ValueError, TypeError)


def scores_on(
    model: LoadedModel, features: pd.DataFrame, target: pd.Series, metric: str = ""
) -> dict[str, float]:
    """Every metric ``evaluate`` reports, for one model on the holdout (its own schema and
    task: a classifier's labels, or a regressor's numbers)."""
    rows = model.schema.coerce_features(features)
    try:
        actual = target_values(target, model.task)
    except DataError as error:
        raise SchemaError(str(error)) from None
    return score(actual, model.pipeline.predict(rows), model.task, metric)


def compare(settings: Settings, candidate: LoadedModel, champion: LoadedModel | None) -> Comparison:
    """Score candidate and champion on the same holdout with ``evaluate.metric``."""
    metric = settings.evaluate.metric
    tolerance = settings.registry.tolerance
    features, target = holdout(settings)
    try:
        mine = scores_on(candidate, features, target, metric)
    except UNSCORABLE as error:
        raise RegistryError(
            f"candidate {candidate.version} cannot be scored on the holdout: {one_line(str(error))}"
        ) from None
    if champion is None:
        return Comparison(metric, tolerance, candidate_scores=mine)
    change = schema_change(champion, candidate)
    if change:
        return Comparison(
            metric, tolerance, candidate_scores=mine, champion_problem=change, new_schema=True
        )
    try:
        theirs = scores_on(champion, features, target, metric)
    except UNSCORABLE as error:
        problem = (
            f"prod {champion.version} cannot be scored on this holdout ({one_line(str(error))})"
        )
        return Comparison(metric, tolerance, candidate_scores=mine, champion_problem=problem)
    return Comparison(metric, tolerance, candidate_scores=mine, champion_scores=theirs)


def schema_change(champion: LoadedModel, candidate: LoadedModel) -> str | None:
    """How prod's schema differs from the candidate's (other target or features), or None."""
    old, new = champion.schema, candidate.schema
    if old.target == new.target and set(old.features) == set(new.features):
        return None
    return (
        f"prod {champion.version} was trained on another dataset (it predicts {old.target!r} "
        f"from {len(old.features)} columns; {candidate.version} predicts {new.target!r} from "
        f"{len(new.features)} columns), so the two cannot be scored on one holdout"
    )


def refusal(comparison: Comparison, version: str, champion: str | None) -> str:
    """Why the gate refused, and the exact command to override it."""
    if comparison.new_schema:
        return (
            f"{comparison.champion_problem}. If this change of dataset is intended, confirm it: "
            f"make promote VERSION={version} NEW_SCHEMA=1"
        )
    override = f"to promote anyway: make promote VERSION={version} FORCE='your reason'"
    if comparison.champion_problem:
        return f"{comparison.champion_problem}, so the gate cannot compare; {override}"
    return (
        f"candidate {version} {comparison.metric} {comparison.candidate:.4f} is worse than "
        f"prod {champion} {comparison.champion:.4f} by more than the tolerance "
        f"{comparison.tolerance} (registry.tolerance in params.yaml); {override}"
    )


def describe(comparison: Comparison, version: str, champion: str | None) -> str:
    """The numbers a person checks before confirming."""
    lines = [
        f"{comparison.metric} on the holdout:",
        f"  candidate {version}: {comparison.candidate:.4f}",
    ]
    if champion is None:
        lines.append("  prod: none yet (this is the first promotion)")
    elif comparison.champion is None:
        lines.append(f"  prod {champion}: not comparable ({comparison.champion_problem})")
    else:
        delta = comparison.candidate - comparison.champion
        lines.append(f"  prod {champion}: {comparison.champion:.4f} (change {delta:+.4f})")
    return "\n".join(lines)
