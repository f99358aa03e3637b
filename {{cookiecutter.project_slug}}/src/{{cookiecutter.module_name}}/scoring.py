"""Classification metrics, one definition for training (evaluate) and live monitoring (scores).

Shared so that a live metric and the training metric it is compared with are the same
computation on different rows.
"""

from __future__ import annotations

from typing import Any

from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score


def score(actual: Any, predicted: Any) -> dict[str, float]:
    """The classification metrics reported for every model, rounded for stable diffs."""
    values = {
        "accuracy": accuracy_score(actual, predicted),
        "balanced_accuracy": balanced_accuracy_score(actual, predicted),
        "f1_macro": f1_score(actual, predicted, average="macro", zero_division=0),
        "f1_weighted": f1_score(actual, predicted, average="weighted", zero_division=0),
    }
    return {name: round(float(value), 6) for name, value in values.items()}
