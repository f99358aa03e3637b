"""Regression beside classification: the estimator decides, and every stage follows.

Everything here runs on small synthetic data built in the test (a number that depends on
two numeric columns and a categorical one), in a temporary folder: nothing depends on the
project's own dataset or state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.module_name }}.batch.chunks import (
    score_chunk,
)
from {{ cookiecutter.module_name }}.batch.tables import (
    output_schema,
)
from {{ cookiecutter.module_name }}.config import (
    Settings,
)
from {{ cookiecutter.module_name }}.monitoring.drift import (
    prediction_drift,
)
from {{ cookiecutter.module_name }}.monitoring.logs import (
    LoggedRecords,
)
from {{ cookiecutter.module_name }}.monitoring.scores import (
    live_scores,
)
from {{ cookiecutter.module_name }}.prediction.loader import (
    load_model,
)
from {{ cookiecutter.module_name }}.prediction.model import (
    LoadedModel,
    typed_frame,
)
from {{ cookiecutter.module_name }}.registry.gate import (
    Comparison,
)
from {{ cookiecutter.module_name }}.schema import (
    FeatureSchema,
)
from {{ cookiecutter.module_name }}.scoring import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    greater_is_better,
    improvement,
    score,
)
from {{ cookiecutter.module_name }}.serving.app import (
    create_app,
)
from {{ cookiecutter.module_name }}.serving.validation import (
    parse_records,
)
from {{ cookiecutter.module_name }}.storage import (
    read_json,
)
from {{ cookiecutter.module_name }}.training.data import (
    run_prepare,
    run_split,
)
from {{ cookiecutter.module_name }}.training.evaluate import (
    run_evaluate,
)
from {{ cookiecutter.module_name }}.training.train import (
    TrainingError,
    run_train,
)

ROWS = 240


def synthetic_frame(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    """y = 3 a - 2 b + (5 for level "p") + noise, with a few missing values."""
    generator = np.random.default_rng(seed)
    a, b = generator.normal(size=rows), generator.uniform(-1, 1, size=rows)
    level = generator.choice(["p", "q", "r"], size=rows)
    y = 3 * a - 2 * b + np.where(level == "p", 5.0, 0.0) + generator.normal(0, 0.1, rows)
    frame = pd.DataFrame({"a": a, "b": b, "level": level, "y": y.round(4)})
    frame.loc[::17, "a"] = np.nan
    return frame


def settings_for(settings: Settings, folder: Path, **changes: Any) -> Settings:
    """The project's settings, on the synthetic CSV in ``folder``, with every output there."""
    raw = folder / "raw.csv"
    if not raw.exists():
        synthetic_frame().to_csv(raw, index=False)
    schema = FeatureSchema(
        target=changes.pop("target", "y"), numeric=("a", "b"), categorical=("level",)
    )
    if "task" in changes:
        schema = schema.model_copy(update={"task": changes.pop("task")})
    model = settings.model.model_copy(
        update={
            "estimator": changes.pop("estimator", "sklearn.linear_model.Ridge"),
            "params": changes.pop("params", {}),
        }
    )
    evaluate = settings.evaluate.model_copy(
        update={
            "metric": changes.pop("metric", "r2"),
            "baseline_strategy": changes.pop("baseline_strategy", None),
        }
    )
    paths = {name: folder / path.name for name, path in settings.paths.model_dump().items()}
    paths["raw_data"] = raw
    updated = settings.model_copy(
        update={"feature_schema": schema, "model": model, "evaluate": evaluate, **changes}
    )
    return updated.with_paths(**paths)


def run_pipeline(settings: Settings) -> None:
    for stage in (run_prepare, run_split, run_train, run_evaluate):
        stage(settings)


def split_and_train(settings: Settings) -> None:
    """The stages a mismatch stops: the split asks the estimator's task, train the target."""
    run_split(settings)
    run_train(settings)


@pytest.fixture(scope="module")
def regression(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The four stages run on synthetic regression data with Ridge."""
    trained = settings_for(settings, tmp_path_factory.mktemp("regression"))
    run_pipeline(trained)
    return trained


@pytest.fixture(scope="module")
def regressor(regression: Settings) -> LoadedModel:
    return load_model(regression.paths.model, regression.paths.metadata, runtime="sklearn")


def test_the_estimator_decides_the_task_and_the_metadata_names_it(regression: Settings) -> None:
    metadata = read_json(regression.paths.metadata)
    assert metadata["task"] == metadata["schema"]["task"] == "regression"
    assert "classes" not in metadata
    metrics = read_json(regression.paths.metrics)
    assert set(REGRESSION_METRICS) <= set(metrics["model"])
    assert metrics["gate"]["metric"] == "r2"
    assert metrics["gate"]["passed"] is True
    assert metrics["model"]["r2"] > 0.9  # the data is a linear function plus little noise
    assert metrics["baseline"]["r2"] < 0.1  # the mean of the training targets


def test_regression_plots_actual_against_predicted_values(regression: Settings) -> None:
    scatter = pd.read_csv(regression.paths.predicted_vs_actual)
    assert list(scatter.columns) == ["actual", "predicted"]
    assert len(scatter) > 0
    assert scatter.dtypes.map(pd.api.types.is_float_dtype).all()
    assert pd.read_csv(regression.paths.predictions).empty  # the confusion plot's file


def test_a_regression_split_is_not_stratified_and_keeps_every_row(regression: Settings) -> None:
    train = pd.read_csv(regression.paths.train_data)
    test = pd.read_csv(regression.paths.test_data)
    assert len(train) + len(test) == ROWS


def test_predict_answers_a_number_per_record_without_probabilities(
    regression: Settings, regressor: LoadedModel
) -> None:
    client = create_app(regression).test_client()
    records = [{"a": 1.0, "b": 0.0, "level": "p"}, {"a": None, "b": 0.5, "level": "new"}]
    response = client.post("/predict", json=records)
    assert response.status_code == 200, response.get_json()
    predictions = response.get_json()["predictions"]
    assert [set(row) for row in predictions] == [{"prediction"}, {"prediction"}]
    assert all(isinstance(row["prediction"], float) for row in predictions)
    assert predictions[0]["prediction"] == pytest.approx(8.0, abs=0.5)  # 3 * 1 + 5
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    assert schemas["Prediction"]["properties"]["prediction"]["type"] == "number"
    assert "probabilities" not in schemas["Prediction"]["properties"]
    assert client.get("/metadata").get_json()["task"] == "regression"
    scrape = client.get("/metrics").get_data(as_text=True)
    assert "predicted_value_bucket" in scrape
    assert "predictions_total{" not in scrape  # no series per predicted value


def test_a_request_gets_the_same_values_from_its_columns_and_its_dataframe(
    regression: Settings,
) -> None:
    """The server hands the ONNX copy a request's validated columns, not a DataFrame."""
    if read_json(regression.paths.metadata)["onnx"]["status"] != "passed":
        pytest.skip("this regressor's ONNX copy is not served")
    onnx = load_model(regression.paths.model, regression.paths.metadata, runtime="onnx")
    records = [
        {"a": 1.0, "b": 0.0, "level": "p"},
        {"a": None, "b": 0.5, "level": "new"},  # a missing number, an unseen level
        {"a": 2, "b": None, "level": None},
        {"a": 1, "b": 1, "level": 7},  # an integer label
    ]
    columns = parse_records(records, onnx.schema, regression.serving)
    assert onnx.predict(columns) == onnx.predict(typed_frame(columns, onnx.schema))


def test_the_onnx_copy_passes_a_value_gate_or_says_why(
    regression: Settings, regressor: LoadedModel
) -> None:
    entry = read_json(regression.paths.metadata)["onnx"]
    if entry["status"] != "passed":
        assert entry["reason"], entry
        return
    assert entry["value_mismatches"] == 0
    assert entry["relative_tolerance"] == regression.inference.onnx_relative_tolerance
    onnx = load_model(regression.paths.model, regression.paths.metadata, runtime="onnx")
    rows = regressor.schema.coerce_features(synthetic_frame(30, seed=1))
    expected = regressor.values(rows)
    assert onnx.values(rows) == pytest.approx(expected, rel=1e-4, abs=1e-4)


def test_batch_scoring_writes_a_numeric_prediction_column(regressor: LoadedModel) -> None:
    chunk = synthetic_frame(20, seed=2).drop(columns="y")
    scored = score_chunk(regressor, chunk)
    assert list(scored.predictions.columns) == ["row", "prediction", "model_version"]
    assert pd.api.types.is_float_dtype(scored.predictions["prediction"])
    assert str(output_schema(regressor, {}).field("prediction").type) == "double"


def test_prediction_drift_compares_value_bins_and_ks(
    regression: Settings, regressor: LoadedModel
) -> None:
    profile = read_json(regression.paths.reference_profile)
    assert profile["prediction"]["kind"] == "numeric"
    thresholds = regression.monitoring.drift
    same = pd.Series(profile["prediction"]["sample"]).astype(str)
    shifted = pd.Series(np.asarray(profile["prediction"]["sample"]) + 50.0).astype(str)
    assert prediction_drift(profile, same, thresholds)["drifted"] is False
    moved = prediction_drift(profile, shifted, thresholds)
    assert set(moved["reference"]) == set(moved["current"]) == set(moved["bins"]["labels"])
    assert moved["drifted"] is True
    assert moved["ks_pvalue"] < thresholds.ks_pvalue


@pytest.mark.parametrize(("error", "degraded"), [(0.0, False), (40.0, True)])
def test_live_scores_of_a_regressor_use_regression_metrics(
    regression: Settings, error: float, degraded: bool
) -> None:
    """True numbers joined to logged predictions; an error metric degrades upward."""
    version = read_json(regression.paths.metadata)["version"]
    predicted = np.linspace(-5.0, 10.0, 20)
    meta = pd.DataFrame(
        {
            "time": pd.Timestamp("2026-01-01", tz="UTC"),
            "request_id": [f"r{i}" for i in range(20)],
            "record": 0,
            "model_version": version,
            "prediction": [str(value) for value in predicted],
        }
    )
    records = LoggedRecords(meta, pd.DataFrame(index=meta.index))
    labels = pd.DataFrame(
        {"request_id": meta["request_id"], "record": 0, "label": (predicted + error).astype(str)}
    )
    settings = regression.model_copy(
        update={
            "evaluate": regression.evaluate.model_copy(update={"metric": "mean_absolute_error"})
        }
    )
    report = live_scores(settings, labels, records)
    entry = report["versions"][version]
    assert entry["task"] == "regression"
    assert entry["live"]["mean_absolute_error"] == pytest.approx(error)
    assert entry["degraded"] is degraded


def test_live_scores_of_a_version_with_no_metadata_take_the_estimators_task(
    regression: Settings,
) -> None:
    """A logged version whose metadata is gone is scored as params.yaml's estimator
    trains (a regressor here, schema.task unset): numbers, regression metrics, no verdict."""
    assert regression.feature_schema.task is None
    predicted = np.linspace(-5.0, 10.0, 20)
    meta = pd.DataFrame(
        {
            "time": pd.Timestamp("2026-01-01", tz="UTC"),
            "request_id": [f"r{i}" for i in range(20)],
            "record": 0,
            "model_version": "gone0123abcd",
            "prediction": [str(value) for value in predicted],
        }
    )
    records = LoggedRecords(meta, pd.DataFrame(index=meta.index))
    labels = pd.DataFrame(
        {"request_id": meta["request_id"], "record": 0, "label": (predicted + 1.5).astype(str)}
    )
    report = live_scores(regression, labels, records)
    entry = report["versions"]["gone0123abcd"]
    assert entry["task"] == "regression"
    assert entry["live"]["mean_absolute_error"] == pytest.approx(1.5)
    assert entry["training"] == {}
    assert report["compared"] == 0


def test_metric_direction_comes_from_scikit_learn() -> None:
    assert all(greater_is_better(name) for name in CLASSIFICATION_METRICS)
    assert greater_is_better("r2")
    assert not greater_is_better("mean_absolute_error")
    assert not greater_is_better("root_mean_squared_error")
    assert improvement("mean_absolute_error", 1.0, 3.0) == 2.0  # the error fell: better
    assert improvement("r2", 0.5, 0.75) == -0.25
    values = score([1.0, 2.0, 3.0], [1.0, 2.0, 5.0], "regression")
    assert values["mean_absolute_error"] == pytest.approx(2 / 3, abs=1e-6)
    assert values["max_error"] == 2.0


@pytest.mark.parametrize(
    ("candidate", "champion", "passed"), [(1.0, 1.05, True), (1.05, 1.0, True), (1.2, 1.0, False)]
)
def test_the_promotion_gate_knows_a_lower_error_is_better(
    candidate: float, champion: float, passed: bool
) -> None:
    comparison = Comparison(
        "mean_absolute_error",
        0.1,
        candidate_scores={"mean_absolute_error": candidate},
        champion_scores={"mean_absolute_error": champion},
    )
    assert comparison.passed is passed


def test_an_error_metric_gates_a_regressor(settings: Settings, tmp_path: Path) -> None:
    trained = settings_for(settings, tmp_path, metric="mean_absolute_error")
    run_pipeline(trained)
    gate = read_json(trained.paths.metrics)["gate"]
    assert gate["greater_is_better"] is False
    assert gate["improvement"] > 0
    assert gate["passed"]


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        (
            {"estimator": "sklearn.linear_model.LogisticRegression", "metric": "f1_macro"},
            "is a classifier but target 'y' is a number with",
        ),
        ({"target": "level_text"}, "is a regressor but target 'level_text' holds text"),
        ({"task": "classification"}, "schema.task is classification but"),
        ({"metric": "f1_macro"}, "evaluate.metric 'f1_macro' is a classification metric"),
        ({"baseline_strategy": "most_frequent"}, "evaluate.baseline_strategy 'most_frequent'"),
    ],
)
def test_a_mismatch_stops_train_with_one_line_that_says_what_to_change(
    settings: Settings, tmp_path: Path, changes: dict[str, Any], says: str
) -> None:
    frame = synthetic_frame()
    frame["level_text"] = frame["level"]
    frame.to_csv(tmp_path / "raw.csv", index=False)
    if changes.get("target") == "level_text":
        frame.drop(columns="y").to_csv(tmp_path / "raw.csv", index=False)
    mismatched = settings_for(settings, tmp_path, **changes)
    run_prepare(mismatched)
    with pytest.raises(TrainingError) as raised:
        split_and_train(mismatched)
    message = str(raised.value)
    assert says in message
    assert "\n" not in message
    assert "set" in message or "choose" in message


def test_schema_task_classification_allows_numeric_classes(
    settings: Settings, tmp_path: Path
) -> None:
    frame = synthetic_frame()
    frame["y"] = (frame["y"] * 2).round()  # many distinct whole numbers
    frame.to_csv(tmp_path / "raw.csv", index=False)
    confirmed = settings_for(
        settings,
        tmp_path,
        estimator="sklearn.tree.DecisionTreeClassifier",
        task="classification",
        metric="accuracy",
        params={"max_depth": 2},
    )
    run_prepare(confirmed)
    run_split(confirmed)
    run_train(confirmed)  # no refusal: params.yaml says these numbers are classes
