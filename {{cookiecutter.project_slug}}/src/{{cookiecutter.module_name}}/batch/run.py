"""Score a large CSV or Parquet file in chunks, with memory that does not grow with the file.

``python -m {{ cookiecutter.module_name }}.batch INPUT --output OUTPUT`` reads INPUT
``batch.chunk_size`` rows at a time, checks every row against the model's schema with the
API's rules, scores the valid rows and appends them to OUTPUT: ``row`` (1 is the first data
row), the ``batch.id_columns``, ``prediction``, one ``probability_<class>`` per class and
``model_version``. A row that cannot be scored goes to the errors file (``row``, the id
columns, ``error``) instead of stopping the run. Both files are written under temporary
names and renamed when the run succeeds, so a failed run never leaves a partial output.

Exit codes of the command: 0 every row was scored; 3 the run finished but some rows are in
the errors file; 1 nothing was written (missing input, unknown extension, no model, missing
columns, unreadable file); 2 wrong arguments.

``score_chunk`` is the whole job for one DataFrame, so a distributed engine can call it per
partition (Dask ``map_partitions``, Spark ``mapInPandas``) and write the results itself.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from {{ cookiecutter.module_name }}.batch.files import (
    BatchError,
    ChunkReader,
    TableWriter,
    file_format,
    open_reader,
)
from {{ cookiecutter.module_name }}.batch.pipelining import (
    WriteBehind,
    read_ahead,
)
from {{ cookiecutter.module_name }}.config import (
    Settings,
    load_settings,
)
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel
from {{ cookiecutter.module_name }}.prediction.store import load_served_model
from {{ cookiecutter.module_name }}.storage import atomic_path

try:  # a private module: if a release moves it, every estimator takes the general path
    from sklearn.linear_model._base import LinearClassifierMixin
except ImportError:  # pragma: no cover
    LinearClassifierMixin = None

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ROWS_REJECTED = 3
PROBABILITY_DECIMALS = 6  # a CSV output writes each probability with exactly this many


@dataclass(frozen=True)
class ScoredChunk:
    """Predictions for the valid rows of a chunk and the reason each other row was refused."""

    predictions: pd.DataFrame
    errors: pd.DataFrame


@dataclass(frozen=True)
class BatchSummary:
    """What a run did; ``exit_code`` tells a scheduler whether rows were refused."""

    rows: int
    scored: int
    output: Path
    errors: Path
    model_version: str

    @property
    def rejected(self) -> int:
        """Rows written to the errors file."""
        return self.rows - self.scored

    @property
    def exit_code(self) -> int:
        """0 when every row was scored, EXIT_ROWS_REJECTED when some were not."""
        return EXIT_ROWS_REJECTED if self.rejected else EXIT_OK

    def describe(self) -> str:
        """One line for the person who started the run."""
        line = f"scored {self.scored} of {self.rows} rows with model {self.model_version} into {self.output}"
        if self.rejected:
            line += f"; {self.rejected} rows could not be scored, reasons in {self.errors}"
        return line


def load_scoring_model(settings: Settings) -> LoadedModel:
    """Load and verify the model exactly as the prediction server does (the prod version)."""
    return load_served_model(settings)


def score_chunk(
    model: LoadedModel,
    chunk: pd.DataFrame,
    *,
    first_row: int = 1,
    id_columns: Sequence[str] = (),
) -> ScoredChunk:
    """Validate and score one DataFrame of raw rows; ``first_row`` numbers its first row.

    Rows that break the schema's rules are returned in ``errors`` with the reason; the
    others are predicted together. Both frames keep the order of ``chunk``.
    """
    return predict_checked(model, check_chunk(model, chunk, first_row, id_columns))


@dataclass(frozen=True)
class CheckedChunk:
    """A chunk after validation: the refused rows, and the typed rows left to predict."""

    errors: pd.DataFrame
    rows: np.ndarray
    ids: dict[str, pd.Series]
    features: pd.DataFrame


def check_chunk(
    model: LoadedModel, chunk: pd.DataFrame, first_row: int, id_columns: Sequence[str]
) -> CheckedChunk:
    """The first half of ``score_chunk``: find each row's problems, type the valid rows."""
    missing = model.schema.missing_columns(chunk.columns)
    missing += [name for name in id_columns if name not in chunk.columns]
    if missing:
        raise BatchError(f"the data lacks the column(s) {missing}")
    problems = model.schema.row_problems(chunk).to_numpy(dtype=object)
    valid = problems == ""
    rows = np.arange(first_row, first_row + len(chunk), dtype="int64")
    errors = pd.DataFrame(
        {
            "row": rows[~valid],
            **_columns(chunk, id_columns, ~valid),
            "error": problems[~valid].astype(str),
        }
    )
    return CheckedChunk(
        errors=errors,
        rows=rows[valid],
        ids=_columns(chunk, id_columns, valid),
        # The ONNX copy takes each categorical column as labels and codes: a categorical
        # chunk's own codes serve, with no label made per row (onnx_model.py).
        features=model.schema.coerce_features(
            chunk.loc[valid], copy=False, categories=model.runtime_choice.onnx is not None
        ),
    )


def predict_checked(model: LoadedModel, checked: CheckedChunk) -> ScoredChunk:
    """The second half of ``score_chunk``: predict the valid rows, build both frames."""
    labels, probabilities = _predict_with(model, checked.features)
    predictions = pd.DataFrame(
        {
            "row": checked.rows,
            **checked.ids,
            "prediction": labels,
            **{
                name: probabilities[:, position].round(PROBABILITY_DECIMALS)
                for position, name in enumerate(probability_columns(model))
            },
            "model_version": pd.Categorical.from_codes(
                np.zeros(len(labels), dtype="int8"), categories=[model.version]
            ),
        }
    )
    return ScoredChunk(predictions=predictions, errors=checked.errors)


def class_labels(model: LoadedModel) -> list[str]:
    """The classes that get a probability column, or none if the model gives no probabilities."""
    if not hasattr(model.pipeline, "predict_proba"):
        return []
    return [str(label) for label in model.pipeline.classes_]


def probability_columns(model: LoadedModel) -> list[str]:
    """The output's probability columns, one per class."""
    return [f"probability_{label}" for label in class_labels(model)]


def _columns(chunk: pd.DataFrame, names: Sequence[str], keep: np.ndarray) -> dict[str, pd.Series]:
    return {name: chunk[name].loc[keep].reset_index(drop=True) for name in names}


def _predict_with(model: LoadedModel, features: pd.DataFrame) -> tuple[pd.Categorical, np.ndarray]:
    """The ONNX copy when it serves (see ``inference.runtime``), else the pipeline."""
    onnx = model.runtime_choice.onnx
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


def output_schema(model: LoadedModel, id_types: dict[str, pa.DataType]) -> pa.Schema:
    """Columns and types of the predictions file, fixed before the first chunk is read."""
    return pa.schema(
        [
            ("row", pa.int64()),
            *id_types.items(),
            ("prediction", pa.string()),
            *[(name, pa.float64()) for name in probability_columns(model)],
            ("model_version", pa.string()),
        ]
    )


def errors_schema(id_types: dict[str, pa.DataType]) -> pa.Schema:
    """Columns and types of the errors file."""
    return pa.schema([("row", pa.int64()), *id_types.items(), ("error", pa.string())])


def default_errors_path(output: Path, settings: Settings) -> Path:
    """Beside the output: ``scores.parquet`` -> ``scores.errors.csv`` (batch.errors_suffix)."""
    return output.with_name(output.name.removesuffix(output.suffix) + settings.batch.errors_suffix)


def score_file(
    model: LoadedModel,
    source: Path,
    output: Path,
    settings: Settings,
    *,
    errors: Path | None = None,
    id_columns: Sequence[str] | None = None,
    progress: bool | None = None,
) -> BatchSummary:
    """Score ``source`` chunk by chunk into ``output`` and the errors file, atomically.

    ``progress=None`` shows a progress bar on stderr only when it is a terminal.
    """
    source, output = Path(source), Path(output)
    errors = Path(errors) if errors else default_errors_path(output, settings)
    ids = tuple(settings.batch.id_columns if id_columns is None else id_columns)
    check_paths(source, output, errors)
    _check_id_columns(ids, model)
    reader = open_reader(source, model.schema, ids, settings.batch.chunk_size, settings.data)
    rows = scored = 0
    with (
        # A chunk's matrices are small: two BLAS threads spend longer waiting on each other
        # than computing (measured: about a third less CPU with one). Scale out with
        # processes or partitions instead.
        threadpool_limits(limits=1, user_api="blas"),
        reader,
        atomic_path(output) as output_temporary,
        atomic_path(errors) as errors_temporary,
        TableWriter(
            output_temporary,
            file_format(output),
            output_schema(model, reader.id_types),
            fractions=dict.fromkeys(probability_columns(model), PROBABILITY_DECIMALS),
        ) as predictions,
        TableWriter(
            errors_temporary, file_format(errors), errors_schema(reader.id_types)
        ) as refused,
        _progress_bar(reader, progress) as bar,
        # Reading and checking, predicting, and writing overlap, one chunk apart (see
        # pipelining.py): the checks' Python work runs while the model runs outside the
        # interpreter lock. The chunks are closed before the reader, and writes end
        # before the writers close.
        closing(read_ahead(_checked(model, reader, ids))) as chunks,
        WriteBehind() as writes,
    ):
        for checked in chunks:
            result = predict_checked(model, checked)
            writes.submit(partial(_write, result, predictions, refused))
            rows += len(checked.errors) + len(checked.rows)
            scored += len(result.predictions)
            bar.update(reader.position() - bar.n)
    return BatchSummary(rows, scored, output, errors, model.version)


def _checked(
    model: LoadedModel, chunks: Iterable[pd.DataFrame], ids: Sequence[str]
) -> Iterator[CheckedChunk]:
    """Check each chunk, numbering rows across chunks from 1."""
    first_row = 1
    for chunk in chunks:
        yield check_chunk(model, chunk, first_row, ids)
        first_row += len(chunk)


def _write(result: ScoredChunk, predictions: TableWriter, refused: TableWriter) -> None:
    predictions.write(result.predictions)
    refused.write(result.errors)


def check_paths(source: Path, output: Path, errors: Path) -> None:
    """Refuse, before anything is loaded or read, what would fail or overwrite the wrong file."""
    for path in (source, output, errors):
        file_format(path)
    if not source.is_file():
        raise BatchError(f"input file {source} not found")
    if output.resolve() == source.resolve():
        raise BatchError(f"the output {output} is the input file: choose another --output")
    if errors.resolve() in (output.resolve(), source.resolve()):
        raise BatchError(f"the errors file {errors} clashes with the input or the output")


def _check_id_columns(ids: Sequence[str], model: LoadedModel) -> None:
    taken = {"row", "prediction", "model_version", "error"}
    taken |= set(probability_columns(model))
    clashes = sorted(taken.intersection(ids))
    if clashes:
        raise BatchError(f"id column(s) {clashes} would clash with the output's own columns")


def _progress_bar(reader: ChunkReader, enabled: bool | None) -> tqdm:
    return tqdm(
        total=reader.total,
        unit=reader.unit,
        unit_scale=True,
        desc="scoring",
        file=sys.stderr,
        disable=None if enabled is None else not enabled,
        leave=False,
    )


def run_batch(
    source: str,
    output: str,
    errors: str | None = None,
    chunk_size: int | None = None,
    id_columns: Sequence[str] | None = None,
) -> int:
    """The ``batch`` command: load settings and the model, score, print one summary line."""
    settings = load_settings()
    if chunk_size is not None:
        if chunk_size < 1:
            raise BatchError(f"--chunk-size must be at least 1, got {chunk_size}")
        batch = settings.batch.model_copy(update={"chunk_size": chunk_size})
        settings = settings.model_copy(update={"batch": batch})
    errors_path = Path(errors) if errors else default_errors_path(Path(output), settings)
    check_paths(Path(source), Path(output), errors_path)  # before the model's slow load
    summary = score_file(
        load_scoring_model(settings),
        Path(source),
        Path(output),
        settings,
        errors=errors_path,
        id_columns=id_columns,
    )
    print(summary.describe())
    return summary.exit_code
