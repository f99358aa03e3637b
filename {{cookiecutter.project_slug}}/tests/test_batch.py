"""Batch scoring: files in, predictions and refused rows out, never a partial file.

Rows come from the configured raw data, so these tests hold for whatever dataset
params.yaml points at.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from {{ cookiecutter.module_name }}.batch import predictions
from {{ cookiecutter.module_name }}.batch import run as batch
from {{ cookiecutter.module_name }}.batch.__main__ import main
from {{ cookiecutter.module_name }}.batch.chunks import (
    PROBABILITY_DECIMALS,
    score_chunk,
)
from {{ cookiecutter.module_name }}.batch.paths import (
    BatchError,
    default_errors_path,
)
from {{ cookiecutter.module_name }}.batch.predictions import class_labels
from {{ cookiecutter.module_name }}.batch.run import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_ROWS_REJECTED,
    BatchSummary,
    score_file,
)
from {{ cookiecutter.module_name }}.config import (
    ENV_PREFIX,
    BatchSettings,
    Settings,
)
from {{ cookiecutter.module_name }}.prediction.loader import load_model
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel
from {{ cookiecutter.module_name }}.schema import FeatureSchema
from {{ cookiecutter.module_name }}.serving.validation import (
    RequestError,
    parse_records,
)
from {{ cookiecutter.module_name }}.training.data import (
    load_split,
    read_raw,
)
from {{ cookiecutter.module_name }}.training.train import build_pipeline
from test_regression import synthetic_frame


@pytest.fixture(scope="module")
def raw(trained: Settings) -> pd.DataFrame:
    """The raw data with an id column; some rows have gaps, none is invalid.

    Read as training reads it (CSV or Parquet, a file or a folder), then as the text a CSV
    holds, so tests can put a bad value in any column."""
    typed = read_raw(trained.paths.raw_data, trained.feature_schema, trained.data)
    frame = pd.read_csv(io.StringIO(typed.to_csv(index=False)), dtype=str)
    frame.insert(0, "record_id", [f"id-{index:04d}" for index in range(len(frame))])
    return frame


def settings_with(trained: Settings, chunk_size: int) -> Settings:
    batch_settings = trained.batch.model_copy(update={"chunk_size": chunk_size})
    return trained.model_copy(update={"batch": batch_settings})


def score(
    model: LoadedModel,
    trained: Settings,
    source: Path,
    output: Path,
    chunk_size: int = 7,
    **kw: Any,
) -> BatchSummary:
    return score_file(model, source, output, settings_with(trained, chunk_size), **kw)


def api_predictions(model: LoadedModel, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """What the HTTP API answers for these rows."""
    return model.predict(model.schema.coerce_features(frame))


# A version id is hex and can be all digits (e.g. "700971727558"): read it back as text.
# Class labels are text too: integer classes are the labels "0" and "1" in the API's answers.
# A regressor's prediction is a number, read back as one.
TEXT_COLUMNS = {"record_id": str, "model_version": str, "prediction": str}
# An ONNX copy computes in float32, and its last digit can depend on how many rows it is
# given at once: a regressor's value then differs by a float32 rounding (relative 6e-8).
FLOAT32_RELATIVE = 1e-6


def text_columns(model: LoadedModel) -> dict[str, type]:
    """The output columns to read back as text, for this model's task."""
    if model.schema.is_regression:
        return {name: kind for name, kind in TEXT_COLUMNS.items() if name != "prediction"}
    return TEXT_COLUMNS


def assert_matches_api(output: pd.DataFrame, model: LoadedModel, frame: pd.DataFrame) -> None:
    expected = api_predictions(model, frame)
    if model.schema.is_regression:
        assert output["prediction"].tolist() == pytest.approx(
            [row["prediction"] for row in expected], rel=FLOAT32_RELATIVE
        )
        assert not [name for name in output.columns if name.startswith("probability_")]
        assert set(output["model_version"]) == {model.version}
        return
    assert output["prediction"].tolist() == [row["prediction"] for row in expected]
    for label in model.metadata["classes"]:
        column = output[f"probability_{label}"].tolist()
        assert column == pytest.approx([row["probabilities"][label] for row in expected])
    assert set(output["model_version"]) == {model.version}


def test_csv_round_trip_matches_the_api(
    model: LoadedModel, trained: Settings, raw: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "rows.csv"
    raw.to_csv(source, index=False)
    summary = score(model, trained, source, tmp_path / "scores.csv", id_columns=["record_id"])
    assert (summary.rows, summary.scored, summary.exit_code) == (len(raw), len(raw), EXIT_OK)
    output = pd.read_csv(tmp_path / "scores.csv", dtype=text_columns(model))
    probabilities = [f"probability_{label}" for label in class_labels(model)]
    assert list(output.columns) == [
        "row",
        "record_id",
        "prediction",
        *probabilities,
        "model_version",
    ]
    assert output["row"].tolist() == list(range(1, len(raw) + 1))
    assert output["record_id"].tolist() == raw["record_id"].tolist()
    assert_matches_api(output, model, raw)
    assert not (tmp_path / "scores.errors.csv").exists(), "no row refused: no errors file"


def test_csv_and_parquet_outputs_hold_the_same_values(
    model: LoadedModel, trained: Settings, raw: pd.DataFrame, tmp_path: Path
) -> None:
    """A CSV output reads back to exactly the values of the Parquet one: every probability
    (rounded to PROBABILITY_DECIMALS, not a digit lost to the text), the same rows in the
    same order, and the same refused rows."""
    frame = raw.copy()
    frame.loc[4, model.schema.numeric[0]] = "not-a-number"
    source = tmp_path / "rows.csv"
    frame.to_csv(source, index=False)
    for kind in ("csv", "parquet"):
        score(model, trained, source, tmp_path / f"scores.{kind}", id_columns=["record_id"])
    text = pd.read_csv(tmp_path / "scores.csv", dtype=text_columns(model))
    typed = pq.read_table(tmp_path / "scores.parquet").to_pandas()
    pd.testing.assert_frame_equal(text, typed, check_exact=True, check_dtype=False)
    for label in class_labels(model):
        column = text[f"probability_{label}"].to_numpy()
        assert np.array_equal(column, column.round(PROBABILITY_DECIMALS))
    assert len(text) == len(frame) - 1
    assert pd.read_csv(tmp_path / "scores.errors.csv")["row"].tolist() == [5]


def test_parquet_round_trip_keeps_id_types(
    model: LoadedModel, trained: Settings, raw: pd.DataFrame, tmp_path: Path
) -> None:
    frame = raw.drop(columns="record_id")
    numeric = list(model.schema.numeric)
    frame[numeric] = frame[numeric].astype("float64")  # a typed file, as Parquet usually is
    numbers = pd.array(range(len(frame)), dtype="Int64")
    numbers[3] = pd.NA  # an integer id with a gap must stay an integer
    frame.insert(0, "customer", numbers)
    source = tmp_path / "rows.parquet"
    frame.to_parquet(source, index=False, row_group_size=50)
    score(model, trained, source, tmp_path / "scores.parquet", id_columns=["customer"])
    table = pq.read_table(tmp_path / "scores.parquet")
    assert table.schema.field("customer").type == pa.int64()
    assert table.schema.field("row").type == pa.int64()
    output = table.to_pandas()
    assert output["customer"].isna().tolist() == frame["customer"].isna().tolist()
    assert output["customer"].dropna().astype(int).tolist() == [
        value for value in range(len(frame)) if value != 3
    ]
    assert_matches_api(output, model, frame)


def test_bad_rows_go_to_the_errors_file_and_the_rest_is_scored(
    model: LoadedModel, trained: Settings, raw: pd.DataFrame, tmp_path: Path
) -> None:
    numeric = model.schema.numeric[0]
    frame = raw.copy()
    frame.loc[2, numeric] = "not-a-number"
    frame.loc[5, numeric] = "inf"
    frame.loc[9, numeric] = "True"
    source = tmp_path / "rows.csv"
    frame.to_csv(source, index=False)
    summary = score(model, trained, source, tmp_path / "scores.csv", id_columns=["record_id"])
    assert summary.exit_code == EXIT_ROWS_REJECTED
    assert (summary.rows, summary.rejected) == (len(frame), 3)
    errors = pd.read_csv(tmp_path / "scores.errors.csv")
    assert errors["row"].tolist() == [3, 6, 10]
    assert errors["record_id"].tolist() == ["id-0002", "id-0005", "id-0009"]
    for reason, value in zip(errors["error"], ["not-a-number", "inf", "True"], strict=True):
        assert f"column {numeric!r} must be a number" in reason
        assert value in reason
    output = pd.read_csv(tmp_path / "scores.csv", dtype=text_columns(model))
    good = frame.drop(index=[2, 5, 9])
    assert output["record_id"].tolist() == good["record_id"].tolist()
    assert_matches_api(output, model, good)


def test_a_row_the_api_refuses_is_refused_here_too(
    model: LoadedModel, trained: Settings, example_record: dict[str, Any]
) -> None:
    numeric = model.schema.numeric[0]
    with pytest.raises(RequestError, match=re.escape(numeric)):
        parse_records({**example_record, numeric: True}, model.schema, trained.serving)
    chunk = pd.DataFrame([example_record] * 3, dtype=object)
    chunk.loc[1, numeric] = True
    refused = [102]
    if model.schema.categorical:
        chunk.loc[2, model.schema.categorical[0]] = False
        refused.append(103)
    result = score_chunk(model, chunk, first_row=101)
    assert result.errors["row"].tolist() == refused
    scored = [row for row in (101, 102, 103) if row not in refused]
    assert result.predictions["row"].tolist() == scored


def test_chunking_gives_the_same_file_as_one_chunk(
    model: LoadedModel, trained: Settings, raw: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "rows.csv"
    raw.to_csv(source, index=False)
    score(model, trained, source, tmp_path / "small.csv", chunk_size=3)
    score(model, trained, source, tmp_path / "whole.csv", chunk_size=len(raw) + 1)
    small = (tmp_path / "small.csv").read_bytes()
    assert small.count(b"\n") == len(raw) + 1
    if model.schema.is_regression:  # the same file but for float32 roundings of the values
        chunked, whole = (pd.read_csv(tmp_path / name) for name in ("small.csv", "whole.csv"))
        pd.testing.assert_frame_equal(chunked, whole, check_exact=False, rtol=FLOAT32_RELATIVE)
        return
    assert small == (tmp_path / "whole.csv").read_bytes()


def test_score_chunk_works_on_any_partition(model: LoadedModel, raw: pd.DataFrame) -> None:
    """The seam for Dask or Spark: any index, any column order, numbered from first_row."""
    partition = raw.iloc[40:60][list(reversed(raw.columns))]
    result = score_chunk(model, partition, first_row=41, id_columns=["record_id"])
    assert result.errors.empty
    assert result.predictions["row"].tolist() == list(range(41, 61))
    assert result.predictions["record_id"].tolist() == partition["record_id"].tolist()
    assert_matches_api(result.predictions, model, partition)


def test_file_with_a_header_only_gives_empty_files_with_headers(
    model: LoadedModel, trained: Settings, raw: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "rows.csv"
    raw.head(0).to_csv(source, index=False)
    summary = score(model, trained, source, tmp_path / "scores.csv")
    assert (summary.rows, summary.exit_code) == (0, EXIT_OK)
    header = (tmp_path / "scores.csv").read_text(encoding="utf-8").splitlines()
    assert len(header) == 1
    assert '"prediction"' in header[0]
    score(model, trained, source, tmp_path / "scores.parquet")
    assert pq.read_table(tmp_path / "scores.parquet").num_rows == 0


def test_empty_file_is_refused(model: LoadedModel, trained: Settings, tmp_path: Path) -> None:
    source = tmp_path / "rows.csv"
    source.write_text("", encoding="utf-8")
    with pytest.raises(BatchError, match="is empty"):
        score(model, trained, source, tmp_path / "scores.csv")
    assert not (tmp_path / "scores.csv").exists()


def test_missing_column_is_named_and_nothing_is_written(
    model: LoadedModel, trained: Settings, raw: pd.DataFrame, tmp_path: Path
) -> None:
    absent = model.schema.features[-1]
    source = tmp_path / "rows.csv"
    raw.drop(columns=absent).to_csv(source, index=False)
    with pytest.raises(BatchError, match=re.escape(f"lacks the column(s) ['{absent}']")):
        score(model, trained, source, tmp_path / "scores.csv")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["rows.csv"]


def test_failure_mid_run_leaves_no_partial_output(
    model: LoadedModel,
    trained: Settings,
    raw: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = tmp_path / "rows.csv"
    raw.to_csv(source, index=False)
    previous = tmp_path / "scores.parquet"
    previous.write_bytes(b"the previous run's output")
    calls = []

    def fail_on_third_chunk(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return predict(*args, **kwargs)

    predict = batch.predict_checked
    monkeypatch.setattr(batch, "predict_checked", fail_on_third_chunk)
    with pytest.raises(RuntimeError, match="disk full"):
        score(model, trained, source, previous, chunk_size=5)
    assert previous.read_bytes() == b"the previous run's output"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["rows.csv", "scores.parquet"]


@pytest.mark.parametrize(
    ("output", "message"),
    [("scores.xlsx", "unknown extension '.xlsx'"), ("rows.csv", "is the input file")],
)
def test_bad_output_is_refused_before_reading(
    model: LoadedModel,
    trained: Settings,
    raw: pd.DataFrame,
    tmp_path: Path,
    output: str,
    message: str,
) -> None:
    source = tmp_path / "rows.csv"
    raw.to_csv(source, index=False)
    with pytest.raises(BatchError, match=message):
        score(model, trained, source, tmp_path / output)
    assert source.read_bytes() == raw.to_csv(index=False).encode()


def test_progress_bar_is_quiet_when_stderr_is_not_a_terminal(
    model: LoadedModel,
    trained: Settings,
    raw: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "rows.csv"
    raw.to_csv(source, index=False)
    score(model, trained, source, tmp_path / "quiet.csv")
    assert capsys.readouterr().err == ""
    score(model, trained, source, tmp_path / "shown.csv", progress=True)
    assert "scoring" in capsys.readouterr().err


@pytest.fixture
def cli_env(trained: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the command line at the trained model through environment overrides.

    The registry too (an empty one): a project with a promoted version would serve it.
    """
    monkeypatch.setenv(f"{ENV_PREFIX}__PATHS__MODEL", str(trained.paths.model))
    monkeypatch.setenv(f"{ENV_PREFIX}__PATHS__METADATA", str(trained.paths.metadata))
    monkeypatch.setenv(f"{ENV_PREFIX}__PATHS__REGISTRY", str(trained.paths.registry))


@pytest.mark.usefixtures("cli_env")
def test_command_line_exit_codes(
    model: LoadedModel, raw: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.csv"
    raw.to_csv(good, index=False)
    assert main([str(good), "--output", str(tmp_path / "good.parquet")]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("Done, every row scored: "), out
    assert f"scored {len(raw)} of {len(raw)} rows" in out
    assert "no row was refused, so there is no errors file" in out
    assert not (tmp_path / "good.errors.csv").exists()

    bad = tmp_path / "bad.csv"
    frame = raw.copy()
    frame.loc[0, model.schema.numeric[0]] = "oops"
    frame.to_csv(bad, index=False)
    errors = tmp_path / "refused.csv"
    scoring_bad = [str(bad), "-o", str(tmp_path / "bad-scores.csv"), "--errors", str(errors)]
    # By hand (make score) a refused row is a verdict in words, not a crash: exit 0.
    assert main(scoring_bad) == EXIT_OK
    said = capsys.readouterr().out
    assert said.startswith("Done, but 1 row could not be scored: "), said
    assert f"the refused rows and the reasons are in {errors}" in said
    assert "'oops'" in errors.read_text(encoding="utf-8")
    # For cron and CI (make score-check) the exit code says it.
    assert main([*scoring_bad, "--check"]) == EXIT_ROWS_REJECTED
    assert capsys.readouterr().out.startswith("Done, but 1 row could not be scored: ")

    # Scored again with the row fixed: the old reasons no longer describe the output.
    code = main(
        [str(good), "-o", str(tmp_path / "bad-scores.csv"), "--errors", str(errors), "--check"]
    )
    assert code == EXIT_OK
    assert not errors.exists()


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["missing.csv", "-o", "out.csv"], "input file missing.csv not found"),
        (["rows.json", "-o", "out.csv"], "unknown extension '.json'"),
        (["rows.csv", "-o", "out.txt"], "unknown extension '.txt'"),
        (["rows.csv", "-o", "out.csv", "--chunk-size", "0"], "--chunk-size must be at least 1"),
    ],
)
def test_command_line_user_errors_are_one_line(
    tmp_path: Path,
    raw: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    raw.to_csv(tmp_path / "rows.csv", index=False)
    (tmp_path / "rows.json").write_text("[]", encoding="utf-8")
    assert main([*arguments]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.csv").exists()


def test_command_line_without_a_model_says_how_to_train(
    trained: Settings,
    raw: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}__PATHS__METADATA", str(tmp_path / "absent.json"))
    monkeypatch.setenv(f"{ENV_PREFIX}__PATHS__REGISTRY", str(tmp_path / "no-registry"))
    raw.to_csv(tmp_path / "rows.csv", index=False)
    code = main([str(tmp_path / "rows.csv"), "-o", str(tmp_path / "out.csv")])
    assert code == EXIT_FAILED
    assert "make train" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()


def test_errors_file_goes_beside_the_output_by_default(trained: Settings, tmp_path: Path) -> None:
    assert default_errors_path(tmp_path / "scores.parquet", trained) == (
        tmp_path / f"scores{trained.batch.errors_suffix}"
    )


@pytest.mark.parametrize("suffix", ["../escape.csv", ".errors.txt", "sub/dir.csv"])
def test_errors_suffix_must_stay_beside_the_output(suffix: str) -> None:
    with pytest.raises(ValidationError, match="errors_suffix"):
        BatchSettings(errors_suffix=suffix)


def fit_pipeline(trained: Settings, estimator: str, params: dict, classes: int) -> LoadedModel:
    """A pipeline fitted on the train split's ``classes`` most common classes, served
    by scikit-learn (no ONNX copy)."""
    features, target = load_split(trained.paths.train_data, trained)
    kept = target.isin(target.value_counts().index[:classes]).to_numpy()
    options = trained.model.model_copy(update={"estimator": estimator, "params": params})
    pipeline = build_pipeline(trained.model_copy(update={"model": options}))
    pipeline.fit(features[kept], target[kept])
    metadata = {"version": "test", "classes": [str(label) for label in pipeline.classes_]}
    return LoadedModel(pipeline=pipeline, metadata=metadata, schema=trained.feature_schema)


@pytest.mark.parametrize(
    ("estimator", "params", "classes", "linear"),
    [
        ("sklearn.linear_model.LogisticRegression", {"max_iter": 1000}, 99, True),
        ("sklearn.linear_model.LogisticRegression", {"max_iter": 1000}, 2, True),
        ("sklearn.tree.DecisionTreeClassifier", {"random_state": 0}, 99, False),
    ],
    ids=["logistic-all-classes", "logistic-binary", "tree"],
)
def test_sklearn_scoring_is_exactly_predict_and_predict_proba(
    trained: Settings,
    raw: pd.DataFrame,
    estimator: str,
    params: dict,
    classes: int,
    linear: bool,
) -> None:
    """Labels equal ``pipeline.predict`` and probabilities its ``predict_proba`` (rounded),
    whether the labels come from a linear model's decision scores or from ``predict``."""
    model = fit_pipeline(trained, estimator, params, classes)
    features = model.schema.coerce_features(raw)
    transformed = model.pipeline[:-1].transform(features)
    assert (predictions._linear_positions(model.pipeline[-1], transformed) is not None) == linear
    result = score_chunk(model, raw)
    assert result.errors.empty
    expected = [str(label) for label in model.pipeline.predict(features)]
    assert result.predictions["prediction"].tolist() == expected
    probabilities = model.pipeline.predict_proba(features)
    for position, label in enumerate(model.metadata["classes"]):
        column = result.predictions[f"probability_{label}"].to_numpy()
        assert np.array_equal(column, probabilities[:, position].round(PROBABILITY_DECIMALS))
    if classes == 2:  # the one-score case: both labels must actually occur
        assert set(expected) == set(model.metadata["classes"])


@pytest.mark.parametrize(
    ("estimator", "params"),
    [
        ("sklearn.linear_model.Ridge", {}),
        ("sklearn.tree.DecisionTreeRegressor", {"random_state": 0}),
    ],
    ids=["ridge", "tree"],
)
def test_sklearn_scoring_of_a_regressor_is_exactly_predict(
    trained: Settings, estimator: str, params: dict
) -> None:
    """A regressor's prediction column equals ``pipeline.predict`` as float64, value for
    value, on rows read as a CSV's text (synthetic data: any project has a regressor)."""
    frame = synthetic_frame()
    schema = FeatureSchema(
        target="y", task="regression", numeric=("a", "b"), categorical=("level",)
    )
    options = trained.model.model_copy(update={"estimator": estimator, "params": params})
    pipeline = build_pipeline(
        trained.model_copy(update={"feature_schema": schema, "model": options})
    )
    pipeline.fit(schema.coerce_features(frame), frame["y"])
    model = LoadedModel(pipeline=pipeline, metadata={"version": "test"}, schema=schema)
    rows = pd.read_csv(io.StringIO(frame.drop(columns="y").to_csv(index=False)), dtype=str)
    result = score_chunk(model, rows)
    assert result.errors.empty
    expected = np.asarray(pipeline.predict(schema.coerce_features(rows)), dtype=np.float64)
    scored = result.predictions["prediction"].to_numpy()
    assert scored.dtype == np.float64
    assert np.array_equal(scored, expected)
    assert len(np.unique(expected)) > 1  # a constant would pass whatever the rows were


def test_onnx_scoring_gives_the_copys_own_labels(trained: Settings, raw: pd.DataFrame) -> None:
    """The batch reads the ONNX copy's labels off its probabilities: they must be the
    labels the copy itself gives, row for row (the API's, with the ONNX runtime)."""
    model = load_model(trained.paths.model, trained.paths.metadata, runtime="onnx")
    assert model.runtime == "onnx"
    features = model.schema.coerce_features(raw)
    onnx = model.runtime_choice.onnx
    assert onnx is not None
    if model.schema.is_regression:  # no labels: the copy's own values, as float64
        result = score_chunk(model, raw)
        expected = onnx.values(features).astype(np.float64)
        assert np.array_equal(result.predictions["prediction"].to_numpy(), expected)
        return
    assert predictions._labels_follow_probabilities(model.pipeline)
    labels, probabilities = onnx.predict(features)
    result = score_chunk(model, raw)
    assert result.predictions["prediction"].tolist() == [str(label) for label in labels]
    names = class_labels(model)
    scored = result.predictions[[f"probability_{name}" for name in names]].to_numpy()
    assert np.array_equal(scored, probabilities.astype(np.float64).round(PROBABILITY_DECIMALS))


class AskedCopy:
    """An ONNX copy stand-in that records which rows it was asked to label."""

    def __init__(self, labels: list[str]) -> None:
        self.labels = labels
        self.asked: list[list[int]] = []

    def predict(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        rows = list(features.index)
        self.asked.append(rows)
        return np.array([self.labels[row] for row in rows], dtype=object), np.empty((0, 0))


def test_tied_or_undefined_probabilities_take_the_copys_own_label() -> None:
    classes = np.array(["a", "b", "c"])
    probabilities = np.array(
        [
            [0.2, 0.7, 0.1],  # clear: b
            [0.4, 0.4, 0.2],  # a tie: the copy decides (c here, to tell it apart)
            [np.nan, 0.5, 0.5],  # not a number: the copy decides
            [0.1, 0.1, 0.8],  # a tie below the top does not matter: c
            [0.9, np.nan, 0.05],  # a NaN anywhere in the row: the copy decides
            [0.8, 0.1, 0.1],  # clear, the first class: a
        ],
        dtype=np.float32,
    )
    copy = AskedCopy(["x", "c", "b", "x", "a", "x"])
    features = pd.DataFrame({"f": range(6)})
    names = predictions._class_names(classes)
    assert names is not None
    labels = predictions._labels_from_probabilities(copy, features, probabilities, classes, names)
    assert labels is not None
    assert labels.tolist() == ["b", "c", "b", "c", "a", "a"]
    assert copy.asked == [[1, 2, 4]]
