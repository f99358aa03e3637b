"""Labels and class probabilities for a chunk's typed rows, with the least work per row.

The API asks the model for a label per row and then for probabilities; a batch needs both
for millions of rows, so it takes the shortcuts that give the same answers: a linear
classifier's label is the top of its decision scores, the ONNX copy's is the class of
highest probability (ties and NaN asked again), and labels are categoricals (a code per
row, a string per class). Each shortcut applies only where it is exact; any other
estimator is asked for ``predict`` and ``predict_proba``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from {{ cookiecutter.module_name }}.prediction.model import LoadedModel

try:  # a private module: if a release moves it, every estimator takes the general path
    from sklearn.linear_model._base import LinearClassifierMixin
except ImportError:  # pragma: no cover
    LinearClassifierMixin = None


def class_labels(model: LoadedModel) -> list[str]:
    """The classes that get a probability column, or none if the model gives no probabilities."""
    if model.schema.is_regression or not hasattr(model.pipeline, "predict_proba"):
        return []
    return [str(label) for label in model.pipeline.classes_]


def probability_columns(model: LoadedModel) -> list[str]:
    """The output's probability columns, one per class."""
    return [f"probability_{label}" for label in class_labels(model)]


def predict_rows(
    model: LoadedModel, features: pd.DataFrame
) -> tuple[pd.Categorical | np.ndarray, np.ndarray]:
    """Labels and class probabilities of typed rows: from the ONNX copy when it serves
    (``inference.runtime``), else from the pipeline. A regressor's rows get their values
    (float64) and no probabilities."""
    onnx = model.runtime_choice.onnx
    if model.schema.is_regression:
        if not len(features):  # scikit-learn refuses empty input
            values = np.empty(0)
        elif onnx is not None:
            values = onnx.values(features).astype(np.float64)
        else:
            values = np.asarray(model.pipeline.predict(features), dtype=np.float64).reshape(-1)
        return values, np.empty((len(values), 0))
    if onnx is None or not len(features):
        return _predict(model.pipeline, features)
    classes = np.asarray(model.pipeline.classes_)
    names = _class_names(classes)
    if names is not None and _labels_follow_probabilities(model.pipeline):
        probabilities = onnx.probabilities(features)
        labels = _labels_from_probabilities(onnx, features, probabilities, classes, names)
        if labels is not None:
            return labels, probabilities.astype(np.float64)
    predicted, probabilities = onnx.predict(features)
    if not hasattr(model.pipeline, "predict_proba"):
        probabilities = np.empty((len(predicted), 0))
    return _labels(predicted, classes), probabilities.astype(np.float64)


def _labels_follow_probabilities(pipeline: Any) -> bool:
    """Whether the ONNX copy's label is the class of highest probability, bar ties.

    For LogisticRegression the copy's label is the arg-max of its linear scores, and its
    probabilities are those scores through softmax (or sigmoids) and a normalisation:
    functions that never reverse an order, though rounding can make two values equal.
    Other estimators (an SVC's calibrated probabilities, say) can disagree outright.
    """
    final = _final_estimator(pipeline)
    return isinstance(final, LogisticRegression) and _predicts_by_linear_scores(final)


def _final_estimator(pipeline: Any) -> Any:
    """The estimator that labels rows: a Pipeline's last step, or the model itself."""
    return pipeline[-1] if len(getattr(pipeline, "steps", ())) > 1 else pipeline


def _class_names(classes: np.ndarray) -> list[str] | None:
    """The classes as the API names them (``str``), or None if two names are the same."""
    names = [str(label) for label in classes]
    return names if len(set(names)) == len(names) else None


def _predicts_by_linear_scores(final: Any) -> bool:
    """Whether ``final`` labels rows with scikit-learn's own linear rule (the top
    decision score), not a ``predict`` of its own: both label shortcuts rely on it."""
    return (
        LinearClassifierMixin is not None and type(final).predict is LinearClassifierMixin.predict
    )


def _labels_from_probabilities(
    onnx: Any,
    features: pd.DataFrame,
    probabilities: np.ndarray,
    classes: np.ndarray,
    names: list[str],
) -> pd.Categorical | None:
    """The copy's labels, read off its probabilities: the arg-max of each row, except
    where the top two are equal (or a probability is not a number), where the copy is
    asked for its own label. None if the copy's answers do not fit the classes."""
    if probabilities.shape[1] != len(classes):
        return None
    # Class by class (a row of the transposed copy each), as numpy runs fastest along
    # long rows: 0.6 ms per 100,000 rows, where argmax and a count across each row of
    # three took 3.8 ms. Where one class alone is at the top, the sum of the positions
    # of the classes at the top is that class; the unsure rows are asked below.
    by_class = np.ascontiguousarray(probabilities.T)
    at_top = by_class == by_class.max(axis=0)  # none in a row with a NaN (max is NaN)
    unsure = np.flatnonzero(at_top.sum(axis=0) != 1)  # ties, and NaN
    positions = np.zeros(len(probabilities), dtype=np.intp)
    for position in range(1, len(classes)):
        positions += at_top[position] * position
    if len(unsure):
        asked = _labels(onnx.predict(features.iloc[unsure])[0], classes)
        if list(asked.categories) != names:
            return None
        positions[unsure] = asked.codes
    return pd.Categorical.from_codes(positions, categories=names)


def _predict(pipeline: Any, features: pd.DataFrame) -> tuple[pd.Categorical, np.ndarray]:
    """Labels (categorical: cheap to build and to write) and class probabilities.

    ``Pipeline.predict`` and ``predict_proba`` would each transform the rows again; running
    the transformers once and calling the final estimator twice gives the same answers.
    """
    classes = np.asarray(pipeline.classes_)
    if not len(features):  # scikit-learn refuses empty input
        return _labels(np.array([], dtype=classes.dtype), classes), np.empty((0, len(classes)))
    final = _final_estimator(pipeline)
    rows = features if final is pipeline else pipeline[:-1].transform(features)
    positions = _linear_positions(final, rows)
    names = _class_names(classes)
    if positions is not None and names is not None:
        labels = pd.Categorical.from_codes(positions, categories=names)
    else:
        labels = _labels(np.asarray(final.predict(rows)), classes)
    if hasattr(final, "predict_proba"):
        return labels, np.asarray(final.predict_proba(rows))
    return labels, np.empty((len(labels), 0))


def _linear_positions(final: Any, rows: Any) -> np.ndarray | None:
    """Each row's position in ``classes_`` for a linear classifier, else None.

    A linear classifier (LogisticRegression, the template's default) predicts the class
    its decision function ranks first: this is that rule, so the labels are identical,
    without building a label array to map back to positions. Taking the arg-max of the
    probabilities instead could differ where two classes round to the same probability.
    """
    if not _predicts_by_linear_scores(final):
        return None  # another estimator, or predict is overridden: ask predict itself
    scores = np.asarray(final.decision_function(rows))
    if scores.ndim == 1:  # two classes: the second wins when its score is above zero
        return (scores > 0).astype(np.intp)
    return scores.argmax(axis=1)


def _labels(predicted: np.ndarray, classes: np.ndarray) -> pd.Categorical:
    """Predicted labels as a categorical of their string forms (as the API writes them)."""
    names = _class_names(classes)
    # Hash the rows once into their few distinct labels, then place those among the
    # classes: a search of every row was a seventh of a chunk's scoring (benchmarks/batch.py).
    found, distinct = pd.factorize(predicted)  # a missing label gets -1: the slow way below
    distinct = np.asarray(distinct, dtype=classes.dtype)
    positions = np.minimum(np.searchsorted(classes, distinct), len(classes) - 1)
    if names is not None and (found >= 0).all() and np.array_equal(classes[positions], distinct):
        return pd.Categorical.from_codes(positions[found], categories=names)
    return pd.Categorical(predicted.astype(str))  # unsorted classes_: the slow, sure way
