"""The configured raw data satisfies the schema; bad data is refused with a clear reason."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.module_name }}.config import (
    DataSettings,
    Settings,
)
from {{ cookiecutter.module_name }}.schema import FeatureSchema
from {{ cookiecutter.module_name }}.training.data import (
    DataError,
    clean,
    load_split,
    read_csv,
    read_raw,
    split,
)

SCHEMA = FeatureSchema(target="y", numeric=("a",), categorical=("c",), ranges={"a": (0.0, 10.0)})
OPTIONS = DataSettings(min_rows=2)


@pytest.fixture(scope="module")
def raw(settings: Settings) -> pd.DataFrame:
    return read_raw(settings.paths.raw_data, settings.feature_schema, settings.data)


def test_raw_data_has_every_schema_column(raw: pd.DataFrame, settings: Settings) -> None:
    schema = settings.feature_schema
    assert not schema.missing_columns(raw.columns)
    assert schema.target in raw.columns


def test_raw_data_cleans_into_enough_rows_and_classes(
    raw: pd.DataFrame, settings: Settings
) -> None:
    cleaned, report = clean(raw, settings.feature_schema, settings.data)
    assert report.rows_kept >= settings.data.min_rows
    assert cleaned[settings.feature_schema.target].nunique() >= 2
    assert cleaned[settings.feature_schema.target].notna().all()


def test_clean_keeps_only_schema_columns(raw: pd.DataFrame, settings: Settings) -> None:
    schema = settings.feature_schema
    cleaned, _ = clean(raw, schema, settings.data)
    assert list(cleaned.columns) == [*schema.features, schema.target]


def test_rows_without_target_are_dropped_and_counted() -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "c": ["x", "y", "x"], "y": ["p", None, "q"]})
    cleaned, report = clean(frame, SCHEMA, OPTIONS)
    assert report.rows_without_target == 1
    assert list(cleaned["y"]) == ["p", "q"]


def test_missing_column_is_named() -> None:
    frame = pd.DataFrame({"a": [1, 2], "y": ["p", "q"]})
    with pytest.raises(DataError, match=r"\['c'\]"):
        clean(frame, SCHEMA, OPTIONS)


def test_value_outside_range_is_refused() -> None:
    frame = pd.DataFrame({"a": [1, 99], "c": ["x", "y"], "y": ["p", "q"]})
    with pytest.raises(DataError, match=r"outside schema\.ranges"):
        clean(frame, SCHEMA, OPTIONS)


def test_text_in_numeric_column_is_refused() -> None:
    frame = pd.DataFrame({"a": [1, "lots"], "c": ["x", "y"], "y": ["p", "q"]})
    with pytest.raises(DataError, match="must be numeric"):
        clean(frame, SCHEMA, OPTIONS)


def test_single_class_target_is_refused() -> None:
    frame = pd.DataFrame({"a": [1, 2], "c": ["x", "y"], "y": ["p", "p"]})
    with pytest.raises(DataError, match="single class"):
        clean(frame, SCHEMA, OPTIONS)


def test_too_few_rows_are_refused() -> None:
    frame = pd.DataFrame({"a": [1], "c": ["x"], "y": ["p"]})
    with pytest.raises(DataError, match="min_rows"):
        clean(frame, SCHEMA, OPTIONS)


def test_missing_file_names_the_path(tmp_path, settings: Settings) -> None:
    with pytest.raises(DataError, match="not found"):
        read_csv(tmp_path / "absent.csv", settings.feature_schema, settings.data)


def test_split_is_reproducible_and_disjoint(raw: pd.DataFrame, settings: Settings) -> None:
    cleaned, _ = clean(raw, settings.feature_schema, settings.data)
    target = settings.feature_schema.target
    train, test = split(cleaned, target, settings.split)
    again, _ = split(cleaned, target, settings.split)
    assert len(train) + len(test) == len(cleaned)
    pd.testing.assert_frame_equal(train, again)
    expected = round(len(cleaned) * settings.split.test_size)
    assert abs(len(test) - expected) <= 1


def test_a_split_made_with_other_params_is_refused_with_the_fix(
    trained: Settings, tmp_path: Path
) -> None:
    """A stale split (schema.target renamed since) names the column and `make train`."""
    stale = tmp_path / "test.csv"
    frame = pd.read_csv(trained.paths.test_data)
    frame.drop(columns=[trained.feature_schema.target]).to_csv(stale, index=False)
    with pytest.raises(DataError, match=r"no target column .*make train"):
        load_split(stale, trained)
    features, target = load_split(trained.paths.test_data, trained)
    assert len(features) == len(target) == len(frame)
