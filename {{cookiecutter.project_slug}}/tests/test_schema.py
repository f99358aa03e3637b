"""The feature schema validates itself and types incoming data the same way everywhere."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from {{ cookiecutter.module_name }}.schema import (
    MISSING_CATEGORY,
    FeatureSchema,
    SchemaError,
)


@pytest.fixture
def schema() -> FeatureSchema:
    return FeatureSchema(target="y", numeric=("a", "b"), categorical=("c",))


def test_features_keep_schema_order(schema: FeatureSchema) -> None:
    assert schema.features == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "y"}, "at least one column"),
        ({"target": "a", "numeric": ("a",)}, "also listed as a feature"),
        ({"target": "y", "numeric": ("a",), "categorical": ("a",)}, "listed twice"),
        ({"target": "y", "numeric": ("a",), "ranges": {"z": (0, 1)}}, "not numeric"),
        ({"target": "y", "numeric": ("a",), "ranges": {"a": (2, 1)}}, "above high"),
        ({"target": "y", "numeric": ("a",), "colour": 1}, "Extra inputs"),
    ],
)
def test_invalid_schema_is_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FeatureSchema(**kwargs)


def test_coerce_types_numbers_and_labels(schema: FeatureSchema) -> None:
    frame = pd.DataFrame({"a": ["1.5", None], "b": [2, 3], "c": [1.0, None], "extra": [0, 0]})
    typed = schema.coerce_features(frame)
    assert list(typed.columns) == ["a", "b", "c"]
    assert typed["a"].dtype == np.float64
    assert typed["a"].iloc[0] == 1.5
    assert math.isnan(typed["a"].iloc[1])
    assert typed["c"].iloc[0] == "1"  # 1.0 and "1" are the same category
    assert typed["c"].iloc[1] == MISSING_CATEGORY  # one label for every path, ONNX included


def test_coerce_names_missing_columns(schema: FeatureSchema) -> None:
    with pytest.raises(SchemaError, match=r"\['b'\]"):
        schema.coerce_features(pd.DataFrame({"a": [1], "c": ["x"]}))


def test_coerce_names_non_numeric_values(schema: FeatureSchema) -> None:
    frame = pd.DataFrame({"a": ["oops"], "b": [1], "c": ["x"]})
    with pytest.raises(SchemaError, match=r"'a' must be numeric.*oops"):
        schema.coerce_features(frame)


def test_coerce_refuses_booleans_as_numbers(schema: FeatureSchema) -> None:
    frame = pd.DataFrame({"a": [True], "b": [1], "c": ["x"]})
    with pytest.raises(SchemaError, match="booleans"):
        schema.coerce_features(frame)


def test_row_problems_name_each_bad_row_and_pass_the_others(schema: FeatureSchema) -> None:
    frame = pd.DataFrame(
        {
            "a": pd.Series([1.5, "x", None, True, math.inf, "2"], dtype=object),
            "b": [1, 2, 3, 4, 5, 6],
            "c": pd.Series(["u", 7, None, "v", False, 1.0], dtype=object),
        }
    )
    problems = schema.row_problems(frame).tolist()
    assert problems == [
        "",
        "column 'a' must be a number, got 'x'",
        "",
        "column 'a' must be a number, got True",
        "column 'a' must be a number, got inf; column 'c' must be a string, got False",
        "",
    ]
    accepted = frame[[problem == "" for problem in problems]]
    assert schema.coerce_features(accepted)["a"].tolist()[::2] == [1.5, 2.0]


def test_row_problems_see_booleans_in_a_boolean_column(schema: FeatureSchema) -> None:
    frame = pd.DataFrame({"a": [True, False], "b": [1.0, 2.0], "c": [True, None]})
    assert schema.row_problems(frame).tolist() == [
        "column 'a' must be a number, got True; column 'c' must be a string, got True",
        "column 'a' must be a number, got False",
    ]


@pytest.mark.parametrize("dtype", [object, "string", "str"])
def test_text_columns_become_the_same_labels_whatever_their_dtype(
    schema: FeatureSchema, dtype: object
) -> None:
    frame = pd.DataFrame(
        {"a": [1.0, 2.0, 3.0], "b": [1, 2, 3], "c": pd.Series(["007", None, "x"], dtype=dtype)}
    )
    labels = schema.coerce_features(frame)["c"]
    assert labels.dtype == object
    assert labels.iloc[0] == "007"
    assert labels.iloc[2] == "x"
    assert labels.iloc[1] == MISSING_CATEGORY


def mixed_rows(size: int) -> pd.DataFrame:
    """Every kind of value a column can hold, repeated to ``size`` rows."""
    values = ["u", 7, None, "v", False, 1.0, "007", 2.5, math.nan, "u", "x"]
    numbers = [1.5, "x", None, True, math.inf, "2", 3, -0.0, math.nan, "1e3", 4.0]
    return pd.DataFrame(
        {
            "a": pd.Series((numbers * size)[:size], dtype=object),
            "b": np.arange(size, dtype="float64"),
            "c": pd.Series((values * size)[:size], dtype=object),
        }
    )


@pytest.mark.parametrize("size", [11, 1100])  # a served request, a batch chunk
def test_categorical_columns_are_checked_and_labelled_like_objects(
    schema: FeatureSchema, size: int
) -> None:
    """Batch files are read with categories (one value per level): same problems, labels."""
    frame = mixed_rows(size)
    as_categories = frame.astype({"a": "category", "c": "category"})
    assert schema.row_problems(as_categories).tolist() == schema.row_problems(frame).tolist()
    valid = (schema.row_problems(frame) == "").to_numpy()
    expected = schema.coerce_features(frame[valid])
    assert schema.coerce_features(as_categories[valid]).equals(expected)


@pytest.mark.parametrize("dtype", [object, "str"])
def test_long_text_columns_get_the_labels_row_by_row_would(
    schema: FeatureSchema, dtype: object
) -> None:
    """Above a few hundred rows text labels are built per level; they must not change."""
    text = pd.Series((["007", None, "x", "y", math.nan] * 300), dtype=dtype)
    frame = pd.DataFrame({"a": 1.0, "b": 2.0, "c": text})
    labels = schema.coerce_features(frame)["c"].tolist()
    assert labels == [MISSING_CATEGORY if pd.isna(value) else value for value in text]


def test_coerce_without_copy_gives_the_same_frame_and_the_default_stays_writable(
    schema: FeatureSchema,
) -> None:
    frame = pd.DataFrame({"a": [1.5, np.nan, 3.0], "b": [1, 2, 3], "c": ["x", None, "y"]})

    shared = schema.coerce_features(frame, copy=False)
    typed = schema.coerce_features(frame)

    assert shared.equals(typed)
    assert np.shares_memory(shared["a"].to_numpy(), frame["a"].to_numpy())
    typed.iloc[0, 0] = 9.0  # the default result is the caller's own to change
    assert frame["a"].iloc[0] == 1.5


def many_levels_with_gaps(size: int) -> pd.Series:
    """A categorical of 130 levels with gaps: the missing label becomes level 131."""
    levels = [f"level {number}" for number in range(130)]
    values = [levels[number % 130] if number % 7 else None for number in range(size)]
    return pd.Series(pd.Categorical(values, categories=levels))


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(pd.Categorical(["x", None, "y", "x"])),  # a gap: the missing label
        pd.Series(pd.Categorical([1.0, 1, None], categories=[1.0])),  # 1.0 is labelled "1"
        pd.Series(pd.Categorical(["1", 1.0, "b"])),  # two levels with one label
        pd.Series(pd.Categorical(["a", MISSING_CATEGORY, None])),  # the label already there
        many_levels_with_gaps(400),
        pd.Series(["007", None, "x"] * 100, dtype=object),  # text, not a categorical
        pd.Series(["007", None, "x"], dtype="str"),
    ],
    ids=["gap", "float", "same-label", "missing-label", "130-levels", "object", "str"],
)
def test_categories_give_the_same_labels_as_categoricals_without_gaps(
    schema: FeatureSchema, column: pd.Series
) -> None:
    """``categories=True`` (the ONNX copy's batch input) changes the type, not the labels."""
    frame = pd.DataFrame({"a": 1.0, "b": 2.0, "c": column})

    coded = schema.coerce_features(frame, categories=True)["c"]

    assert isinstance(coded.dtype, pd.CategoricalDtype)
    assert (coded.cat.codes >= 0).all()
    assert coded.astype(object).tolist() == schema.coerce_features(frame)["c"].tolist()
