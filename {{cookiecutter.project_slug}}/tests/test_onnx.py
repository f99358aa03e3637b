"""The ONNX copy predicts like scikit-learn, or is not used; the parity gate bites."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from {{ cookiecutter.module_name }}.batch.chunks import score_chunk
from {{ cookiecutter.module_name }}.batch.run import load_scoring_model
from {{ cookiecutter.module_name }}.config import InferenceSettings, Settings
from {{ cookiecutter.module_name }}.onnx_model import (
    OnnxModel,
    OnnxModelError,
    level_codes,
)
from {{ cookiecutter.module_name }}.prediction.engine import choose_runtime
from {{ cookiecutter.module_name }}.prediction.loader import (
    ModelLoadError,
    load_model,
)
from {{ cookiecutter.module_name }}.prediction.model import (
    LoadedModel,
    typed_frame,
)
from {{ cookiecutter.module_name }}.schema import (
    MISSING_CATEGORY,
    FeatureSchema,
)
from {{ cookiecutter.module_name }}.serving.app import create_app
from {{ cookiecutter.module_name }}.serving.validation import parse_records
from {{ cookiecutter.module_name }}.training import export
from {{ cookiecutter.module_name }}.training.data import load_split
from {{ cookiecutter.module_name }}.training.export import (
    Parity,
    check_parity,
    check_value_parity,
    convert,
    edge_rows,
    export_onnx,
)
from {{ cookiecutter.module_name }}.training.train import (
    TrainingError,
    build_pipeline,
)


def with_model(settings: Settings, folder: Path, **model_changes: Any) -> Settings:
    """Settings whose model files go to ``folder``, with some model settings changed."""
    model = settings.model.model_copy(update=model_changes)
    return settings.model_copy(update={"model": model}).with_paths(
        model=folder / "model.skops", onnx_model=folder / "model.onnx"
    )


def assert_same_predictions(
    first: list[dict], second: list[dict], inference: InferenceSettings
) -> None:
    """The same classes and probabilities within the gate's tolerance; for a regressor, the
    same values within its absolute plus relative tolerance (the copy computes in float32)."""
    if first and "probabilities" not in first[0]:
        assert [row["prediction"] for row in first] == pytest.approx(
            [row["prediction"] for row in second],
            abs=inference.onnx_tolerance,
            rel=inference.onnx_relative_tolerance,
        )
        return
    tolerance = inference.onnx_tolerance
    assert [row["prediction"] for row in first] == [row["prediction"] for row in second]
    for left, right in zip(first, second, strict=True):
        for label, probability in left["probabilities"].items():
            assert probability == pytest.approx(right["probabilities"][label], abs=tolerance)


@pytest.fixture(scope="module")
def sklearn_model(trained: Settings) -> LoadedModel:
    return load_model(trained.paths.model, trained.paths.metadata, runtime="sklearn")


@pytest.fixture(scope="module")
def onnx_model(trained: Settings, model: LoadedModel) -> LoadedModel:
    """The model served by its ONNX copy (skips when your estimator's copy did not pass)."""
    if model.metadata["onnx"]["status"] != "passed":
        pytest.skip(f"this model's ONNX copy is not served: {model.metadata['onnx']['reason']}")
    return load_model(trained.paths.model, trained.paths.metadata, runtime="onnx")


@pytest.fixture(scope="module")
def test_split(trained: Settings) -> pd.DataFrame:
    return load_split(trained.paths.test_data, trained)[0]


def test_runtime_follows_the_parity_verdict(model: LoadedModel, trained: Settings) -> None:
    entry = model.metadata["onnx"]
    if trained.model.estimator == "sklearn.linear_model.LogisticRegression":
        assert entry["status"] == "passed", entry["reason"]  # the default must serve fast
    if entry["status"] == "passed" and model.schema.is_regression:
        assert entry["value_mismatches"] == 0
        assert model.runtime == "onnx"
    elif entry["status"] == "passed":
        assert entry["max_probability_difference"] <= trained.inference.onnx_tolerance
        assert entry["class_mismatches"] == 0
        assert model.runtime == "onnx"
    else:
        assert entry["reason"]
        assert model.runtime == "sklearn"


def test_onnx_and_sklearn_agree_on_the_test_split_and_edge_rows(
    onnx_model: LoadedModel, sklearn_model: LoadedModel, trained: Settings, test_split: pd.DataFrame
) -> None:
    rows = pd.concat([test_split, edge_rows(onnx_model.schema, test_split)], ignore_index=True)
    assert_same_predictions(
        onnx_model.predict(rows), sklearn_model.predict(rows), trained.inference
    )


def test_missing_and_unseen_values_in_requests_agree(
    onnx_model: LoadedModel, sklearn_model: LoadedModel, trained: Settings, example_record: dict
) -> None:
    schema = onnx_model.schema
    records = [dict.fromkeys(example_record)]
    records += [{**example_record, name: None} for name in schema.features]
    records += [{**example_record, **dict.fromkeys(schema.categorical, "never-seen")}]
    rows = parse_records(records, schema, trained.serving)
    assert_same_predictions(
        onnx_model.predict(rows), sklearn_model.predict(rows), trained.inference
    )


def test_a_request_reaches_the_copy_as_its_dataframe_would(
    onnx_model: LoadedModel, trained: Settings, example_record: dict
) -> None:
    """The server's fast path (validated columns straight into the copy's input arrays)
    gives the same arrays, so the same answers, as the DataFrame scikit-learn gets."""
    schema = onnx_model.schema
    records = [example_record, dict.fromkeys(example_record)]
    records += [{**example_record, name: None} for name in schema.features]
    for value in ("never-seen", 3, 3.0, "3.0"):  # an unseen level; integer labels: "3"
        records.append({**example_record, **dict.fromkeys(schema.categorical, value)})
    columns = parse_records(records, schema, trained.serving)
    frame = typed_frame(columns, schema)
    copy = onnx_model.runtime_choice.onnx
    assert copy is not None
    fast, slow = copy.inputs(columns), copy.inputs(frame)
    assert fast.keys() == slow.keys()
    for name, array in fast.items():
        assert (array.dtype, array.shape) == (slow[name].dtype, slow[name].shape), name
        np.testing.assert_array_equal(array, slow[name])
    assert onnx_model.predict(columns) == onnx_model.predict(frame)


def test_batch_scoring_uses_the_onnx_copy_and_agrees(
    onnx_model: LoadedModel, sklearn_model: LoadedModel, trained: Settings, test_split: pd.DataFrame
) -> None:
    model = load_scoring_model(trained)
    assert model.runtime == "onnx"
    fast = score_chunk(model, test_split).predictions
    slow = score_chunk(sklearn_model, test_split).predictions
    if model.schema.is_regression:
        inference = trained.inference
        np.testing.assert_allclose(
            fast["prediction"],
            slow["prediction"],
            atol=inference.onnx_tolerance,
            rtol=inference.onnx_relative_tolerance,
        )
        return
    assert fast["prediction"].tolist() == slow["prediction"].tolist()
    for column in [name for name in fast.columns if name.startswith("probability_")]:
        np.testing.assert_allclose(
            fast[column], slow[column], atol=2e-6 + trained.inference.onnx_tolerance
        )


def test_missing_categories_get_one_label_before_any_model(model: LoadedModel) -> None:
    if not model.schema.categorical:
        pytest.skip("the schema has no categorical column")
    frame = pd.DataFrame([dict.fromkeys(model.schema.features)])
    typed = model.schema.coerce_features(frame)
    assert set(typed[list(model.schema.categorical)].iloc[0]) == {MISSING_CATEGORY}


def test_parity_holds_on_a_dataset_with_categoricals_and_missing_values(
    trained: Settings, tmp_path: Path
) -> None:
    """Gaps in every column, integer-coded levels, and names that are not identifiers."""
    generator = np.random.default_rng(0)
    rows = 240
    size, weight, colour, grade = "Size (cm)", "weight/kg", "colour", "Grade #"
    frame = pd.DataFrame(
        {
            size: generator.normal(10, 3, rows),
            weight: generator.normal(50, 10, rows),
            colour: generator.choice(["red", "green", "blue"], rows).astype(object),
            grade: generator.choice([1, 2, 3], rows).astype(float),
        }
    )
    frame["label"] = np.where(frame[size] + (frame[colour] == "red") * 4 > 11, "big", "small")
    for column, share in ((size, 0.1), (weight, 0.2), (colour, 0.15), (grade, 0.1)):
        frame.loc[generator.random(rows) < share, column] = None
    schema = FeatureSchema(target="label", numeric=(size, weight), categorical=(colour, grade))
    settings = with_model(
        trained.model_copy(update={"feature_schema": schema}),
        tmp_path,
        estimator="sklearn.linear_model.LogisticRegression",
        params={"max_iter": 500},
    )
    features = schema.coerce_features(frame)
    pipeline = build_pipeline(settings).fit(features[:180], frame["label"][:180])
    entry = export_onnx(pipeline, settings, features[180:])
    assert entry["status"] == "passed", entry["reason"]
    assert entry["rows"] > 60  # the test rows and the edge rows were all compared


def test_pipeline_without_a_converter_falls_back_to_sklearn(
    trained: Settings, tmp_path: Path, test_split: pd.DataFrame
) -> None:
    settings = with_model(
        trained, tmp_path, estimator="sklearn.semi_supervised.LabelSpreading", params={}
    )
    features, target = load_split(trained.paths.train_data, trained)
    pipeline = build_pipeline(settings).fit(features, target)
    entry = export_onnx(pipeline, settings, test_split)
    assert entry["status"] == "unavailable"
    assert "cannot convert" in entry["reason"]
    assert "LabelSpreading" in entry["reason"]
    assert settings.paths.onnx_model.read_bytes() == b""  # DVC's output exists, empty
    metadata = {"onnx": entry}
    choice = choose_runtime(metadata, trained.feature_schema, "auto")
    assert choice.active == "sklearn"
    assert "cannot convert" in choice.reason


def perturbed_copy(source: Path, target: Path, change: str) -> Path:
    """A copy of the ONNX model with its coefficients nudged or its class labels swapped."""
    import onnx

    model = onnx.load(str(source))
    (node,) = [node for node in model.graph.node if node.op_type == "LinearClassifier"]
    for attribute in node.attribute:
        if change == "coefficients" and attribute.name == "coefficients":
            attribute.floats[0] += 0.01
        if change == "labels" and attribute.name == "classlabels_strings":
            attribute.strings[0], attribute.strings[1] = attribute.strings[1], attribute.strings[0]
    onnx.save(model, str(target))
    return target


@pytest.mark.parametrize("change", ["coefficients", "labels"])
def test_gate_refuses_a_perturbed_onnx_model(
    trained: Settings,
    onnx_model: LoadedModel,
    test_split: pd.DataFrame,
    tmp_path: Path,
    change: str,
) -> None:
    if trained.model.estimator != "sklearn.linear_model.LogisticRegression":
        pytest.skip("the perturbation edits a linear model's coefficients")
    pipeline: Pipeline = onnx_model.pipeline
    schema = trained.feature_schema
    rows = pd.concat([test_split, edge_rows(schema, test_split)], ignore_index=True)
    tolerance = trained.inference.onnx_tolerance
    original = OnnxModel(trained.paths.onnx_model, schema)
    assert check_parity(pipeline, original, rows, tolerance).passed
    broken = perturbed_copy(trained.paths.onnx_model, tmp_path / "model.onnx", change)
    parity = check_parity(pipeline, OnnxModel(broken, schema), rows, tolerance)
    assert not parity.passed
    if change == "coefficients":
        # A nudge moves every probability; on a row near a tie it may flip the class too,
        # and then the verdict names the class first: the probability check bites anyway.
        assert parity.max_probability_difference > tolerance
        assert parity.class_mismatches or "probability differs" in parity.reason()
    else:
        assert parity.class_mismatches > 0
        assert "another class" in parity.reason()


def test_parity_verdict_refuses_a_copy_that_outputs_nan() -> None:
    parity = Parity(
        rows=10, class_mismatches=0, max_probability_difference=float("nan"), tolerance=1e-5
    )
    assert not parity.passed
    assert "differs" in parity.reason()


def test_a_changed_onnx_file_is_refused(
    trained: Settings, onnx_model: LoadedModel, tmp_path: Path
) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    for path in (trained.paths.model, trained.paths.metadata, trained.paths.onnx_model):
        (folder / path.name).write_bytes(path.read_bytes())
    copy = folder / trained.paths.onnx_model.name
    copy.write_bytes(copy.read_bytes() + b"\0")
    with pytest.raises(ModelLoadError, match="sha256"):
        load_model(folder / trained.paths.model.name, folder / trained.paths.metadata.name)


def test_runtime_setting_forces_either_engine(trained: Settings, onnx_model: LoadedModel) -> None:
    for runtime in ("sklearn", "onnx"):
        forced = load_model(trained.paths.model, trained.paths.metadata, runtime=runtime)
        assert forced.runtime == runtime


def test_forcing_onnx_without_a_passing_copy_is_an_error(
    trained: Settings, model: LoadedModel
) -> None:
    metadata = {**model.metadata, "onnx": {**model.metadata["onnx"], "status": "failed"}}
    metadata["onnx"]["reason"] = "a probability differs"
    with pytest.raises(ValueError, match=r"inference\.runtime is onnx.*failed"):
        choose_runtime(metadata, model.schema, "onnx")
    fallback = choose_runtime(metadata, model.schema, "auto")
    assert fallback.active == "sklearn"
    assert "failed" in fallback.reason


def test_without_onnxruntime_auto_falls_back(
    trained: Settings, onnx_model: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    metadata, schema = onnx_model.metadata, onnx_model.schema
    choice = choose_runtime(metadata, schema, "auto", trained.paths.onnx_model)
    assert choice.active == "sklearn"
    assert "onnxruntime is not installed" in choice.reason


def test_metadata_endpoint_names_the_active_runtime(
    trained: Settings, onnx_model: LoadedModel
) -> None:
    for runtime in ("sklearn", "auto"):
        settings = trained.model_copy(
            update={"inference": trained.inference.model_copy(update={"runtime": runtime})}
        )
        body = create_app(settings).test_client().get("/metadata").get_json()
        assert body["runtime"]["requested"] == runtime
        assert body["runtime"]["active"] == ("sklearn" if runtime == "sklearn" else "onnx")


def test_onnx_copy_must_sit_beside_the_model(
    trained: Settings, onnx_model: LoadedModel, test_split: pd.DataFrame, tmp_path: Path
) -> None:
    elsewhere = trained.with_paths(onnx_model=tmp_path / "elsewhere" / "model.onnx")
    with pytest.raises(TrainingError, match=r"folder of paths\.model"):
        export_onnx(onnx_model.pipeline, elsewhere, test_split)


def test_the_copy_takes_categorical_columns_as_labels_and_codes(onnx_model: LoadedModel) -> None:
    copy = onnx_model.runtime_choice.onnx
    assert copy is not None
    kinds = {item.name: item.type for item in copy.session.get_inputs()}
    for labels, codes in copy.categorical_names.values():
        assert codes is not None
        assert (kinds[labels], kinds[codes]) == ("tensor(string)", "tensor(int64)")


def test_a_copy_exported_with_one_string_per_row_is_still_served_alike(
    onnx_model: LoadedModel, test_split: pd.DataFrame, tmp_path: Path
) -> None:
    """Versions exported before the coded inputs stay servable (rollback), with the same
    answers; the coded copy answers alike from labels and from categoricals."""
    schema = onnx_model.schema
    copy = onnx_model.runtime_choice.onnx
    assert copy is not None
    legacy_path = tmp_path / "model.onnx"
    legacy_path.write_bytes(convert(onnx_model.pipeline, schema, coded=False))
    legacy = OnnxModel(legacy_path, schema)
    assert all(codes is None for _, codes in legacy.categorical_names.values())
    rows = pd.concat([test_split, edge_rows(schema, test_split)], ignore_index=True)
    typed = schema.coerce_features(rows)
    if schema.is_regression:
        expected_values = legacy.values(typed)
        for features in (typed, schema.coerce_features(rows, categories=True), typed.iloc[:3]):
            values = copy.values(features)
            np.testing.assert_allclose(values, expected_values[: len(features)], rtol=1e-6)
        return

    expected_labels, expected = legacy.predict(typed)
    for features in (typed, schema.coerce_features(rows, categories=True), typed.iloc[:3]):
        labels, probabilities = copy.predict(features)
        np.testing.assert_array_equal(labels, expected_labels[: len(features)])
        np.testing.assert_array_equal(probabilities, expected[: len(features)])
    assert copy.probabilities(typed.iloc[:0]).shape == (0, expected.shape[1])


def test_level_codes_give_each_row_its_label() -> None:
    values = ["b", "a", "b", MISSING_CATEGORY] * 50
    categorical = pd.Series(pd.Categorical(values))
    levels, codes = level_codes(categorical)
    assert sorted(levels) == sorted(set(values))  # the few labels, not one per row
    assert levels[codes].tolist() == values
    levels, codes = level_codes(pd.Series(values, dtype=object))  # a served request's rows
    assert levels[codes].tolist() == values


def test_level_codes_keep_a_gap_a_value_of_its_own() -> None:
    """A gap in a categorical is never given another row's label by a code of -1."""
    levels, codes = level_codes(pd.Series(pd.Categorical(["a", None, "b"])))
    assert (codes >= 0).all()
    labels = levels[codes]
    assert labels[[0, 2]].tolist() == ["a", "b"]
    assert pd.isna(labels[1])


@pytest.mark.parametrize(
    "schema",
    [
        FeatureSchema(target="y", numeric=tuple(f"n{number}" for number in range(9))),
        FeatureSchema(target="y", numeric=("a",), categorical=("b",)),
    ],
    ids=["more-columns-than-inputs", "other-columns"],
)
def test_a_copy_whose_inputs_do_not_fit_the_schema_is_refused(
    trained: Settings, onnx_model: LoadedModel, schema: FeatureSchema
) -> None:
    """The server and the gate catch OnnxModelError (then scikit-learn serves)."""
    with pytest.raises(OnnxModelError, match="takes inputs"):
        OnnxModel(trained.paths.onnx_model, schema)


class CategoricalsOnlyOff:
    """The real copy, except that its probabilities drift when given categoricals."""

    def __init__(self, copy: OnnxModel) -> None:
        self.copy, self.schema = copy, copy.schema

    def predict(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        labels, probabilities = self.copy.predict(features)
        column = features[self.schema.categorical[0]]
        if isinstance(column.dtype, pd.CategoricalDtype):
            probabilities = probabilities + 0.01
        return labels, probabilities


def test_the_gate_also_checks_the_batchs_categorical_inputs(
    onnx_model: LoadedModel, trained: Settings, test_split: pd.DataFrame
) -> None:
    schema = onnx_model.schema
    if not schema.categorical:
        pytest.skip("no categorical column")
    copy = onnx_model.runtime_choice.onnx
    assert copy is not None
    rows = pd.concat([test_split, edge_rows(schema, test_split)], ignore_index=True)
    tolerance = trained.inference.onnx_tolerance

    parity = check_parity(onnx_model.pipeline, CategoricalsOnlyOff(copy), rows, tolerance)

    assert not parity.passed
    assert "probability differs" in (parity.reason() or "")


class NanInOneRow(CategoricalsOnlyOff):
    """The real copy, except that one probability of its last row is not a number."""

    def predict(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        labels, probabilities = self.copy.predict(features)
        probabilities = probabilities.copy()
        probabilities[-1, 0] = np.nan
        return labels, probabilities


class NanInOneValue(CategoricalsOnlyOff):
    """The real copy of a regressor, except that its last row's value is not a number."""

    def values(self, features: pd.DataFrame) -> np.ndarray:
        values = self.copy.values(features).copy()
        values[-1] = np.nan
        return values


def test_the_gate_refuses_a_copy_with_a_nan_probability(
    onnx_model: LoadedModel, trained: Settings, test_split: pd.DataFrame
) -> None:
    copy = onnx_model.runtime_choice.onnx
    assert copy is not None
    tolerance = trained.inference.onnx_tolerance
    if onnx_model.schema.is_regression:  # a regressor's gate compares values instead
        values = check_value_parity(onnx_model.pipeline, NanInOneValue(copy), test_split, trained)
        assert not values.passed
        assert values.value_mismatches == 1
        return

    parity = check_parity(onnx_model.pipeline, NanInOneRow(copy), test_split, tolerance)

    assert not parity.passed
    assert math.isnan(parity.max_probability_difference)


def test_a_failed_rewrite_is_reported_as_such_and_scikit_learn_serves(
    onnx_model: LoadedModel,
    trained: Settings,
    test_split: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(model: object) -> bytes:
        raise ValueError("no Gather for you")

    monkeypatch.setattr(export, "coded_text_inputs", refuse)
    settings = with_model(trained, tmp_path)

    entry = export_onnx(onnx_model.pipeline, settings, test_split)

    assert entry["status"] == "unavailable"
    assert "cannot take coded categorical inputs" in entry["reason"]
    assert "no Gather for you" in entry["reason"]
