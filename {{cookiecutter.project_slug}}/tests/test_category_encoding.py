"""One encoding of categorical values: 2, 2.0 and "2" are one level on every path.

Each test builds a small synthetic frame with an integer-coded categorical column and
sends it through one path (training's CSV and Parquet readers, a JSON request, batch
files, monitoring): every path must give the labels ``category_label`` gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.module_name }}.batch.readers import open_reader
from {{ cookiecutter.module_name }}.config import (
    DataSettings,
    DriftSettings,
    ServingSettings,
)
from {{ cookiecutter.module_name }}.monitoring.drift import categorical_drift
from {{ cookiecutter.module_name }}.monitoring.scores import read_labels
from {{ cookiecutter.module_name }}.schema import (
    MISSING_CATEGORY,
    FeatureSchema,
    category_label,
    category_labels,
)
from {{ cookiecutter.module_name }}.serving.validation import parse_records
from {{ cookiecutter.module_name }}.training.data import (
    DataError,
    clean,
    read_raw,
)

SCHEMA = FeatureSchema(target="y", numeric=("x",), categorical=("code",))
OPTIONS = DataSettings(na_values=("NA", ""), min_rows=2)
ROWS = 6


@pytest.mark.parametrize(
    "value", [2, 2.0, "2", "2.0", "2.00", np.int64(2), np.float32(2.0), np.float64(2.0)]
)
def test_a_whole_number_is_one_label_however_it_is_written(value: object) -> None:
    assert category_label(value) == "2"


@pytest.mark.parametrize("value", ["02", "2.5", "2.", "1e3", "a.0", " 2"])
def test_other_text_keeps_its_form(value: str) -> None:
    assert category_label(value) == value


@pytest.mark.parametrize("value", [None, float("nan"), pd.NA, np.nan])
def test_missing_values_get_the_missing_level(value: object) -> None:
    assert category_label(value) == MISSING_CATEGORY


def test_category_labels_label_each_value_as_category_label_does() -> None:
    values = pd.Series([2, "2.0", None, "x", 3.0], dtype=object)
    assert category_labels(values).tolist() == ["2", "2", MISSING_CATEGORY, "x", "3"]


def frame(gaps: bool) -> pd.DataFrame:
    """Rows with an integer-coded category, with or without a missing value."""
    codes = [1, 2, 1, 2, 1, None] if gaps else [1, 2, 1, 2, 1, 2]
    return pd.DataFrame(
        {
            "x": np.arange(ROWS, dtype=float),
            "code": pd.array(codes, dtype="Int64"),
            "y": [0, 1, 0, 1, 0, 1],
        }
    )


def expected(gaps: bool) -> list[str]:
    return ["1", "2", "1", "2", "1", MISSING_CATEGORY if gaps else "2"]


def write(data: pd.DataFrame, path: Path, floats: bool) -> Path:
    """``data`` as CSV or Parquet; ``floats`` writes the codes as floats (1.0), as pandas
    writes an integer column with gaps it read without a nullable type."""
    if floats:
        data = data.astype({"code": "float64"})
    if path.suffix == ".csv":
        data.to_csv(path, index=False)
    else:
        data.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("gaps", [False, True])
@pytest.mark.parametrize("floats", [False, True])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_training_reads_the_same_labels_from_csv_and_parquet(
    tmp_path: Path, suffix: str, floats: bool, gaps: bool
) -> None:
    path = write(frame(gaps), tmp_path / f"raw{suffix}", floats)
    cleaned, _ = clean(read_raw(path, SCHEMA, OPTIONS), SCHEMA, OPTIONS)
    assert cleaned["code"].tolist() == expected(gaps)
    assert cleaned["y"].tolist() == ["0", "1", "0", "1", "0", "1"]  # class labels too


def test_training_reads_a_folder_of_csv_and_parquet_files_as_one(tmp_path: Path) -> None:
    folder = tmp_path / "raw"
    folder.mkdir()
    data = frame(gaps=True)
    write(data.iloc[:3], folder / "a.csv", floats=True)
    write(data.iloc[3:], folder / "b.parquet", floats=False)
    (folder / ".hidden.csv").write_text("not,data\n", encoding="utf-8")
    cleaned, report = clean(read_raw(folder, SCHEMA, OPTIONS), SCHEMA, OPTIONS)
    assert report.rows_read == ROWS
    assert cleaned["code"].tolist() == expected(gaps=True)


def test_a_folder_without_data_files_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"holds no \.csv or \.parquet"):
        read_raw(tmp_path, SCHEMA, OPTIONS)


@pytest.mark.parametrize("value", [2, 2.0, "2", "2.0"])
def test_a_json_request_gets_the_training_label(value: object) -> None:
    records = [{"x": 1.0, "code": value}, {"x": 1.0, "code": None}]
    typed = parse_records(records, SCHEMA, ServingSettings())
    assert typed["code"] == ["2", MISSING_CATEGORY]


@pytest.mark.parametrize("gaps", [False, True])
@pytest.mark.parametrize("floats", [False, True])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_batch_files_get_the_training_labels(
    tmp_path: Path, suffix: str, floats: bool, gaps: bool
) -> None:
    path = write(frame(gaps), tmp_path / f"in{suffix}", floats)
    reader = open_reader(path, SCHEMA, [], 4, OPTIONS)
    try:
        chunks = [SCHEMA.coerce_features(chunk) for chunk in reader]
        labelled = [SCHEMA.coerce_features(chunk, categories=True) for chunk in chunks]
    finally:
        reader.close()
    assert pd.concat(chunks)["code"].tolist() == expected(gaps)
    assert [str(v) for v in pd.concat(labelled)["code"]] == expected(gaps)


def test_monitoring_counts_2_and_2_0_as_the_training_level() -> None:
    profile = {"shares": {"1": 0.5, "2": 0.5}}
    logged = pd.Series([1, 2.0, "1", "2.0"], dtype=object)
    report = categorical_drift(profile, logged, DriftSettings())
    assert report["unseen_levels"] == []
    assert report["bins"]["current"][-1] == 0.0  # nothing in the unseen bin


def test_true_labels_written_as_floats_match_integer_classes(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    pd.DataFrame({"request_id": ["a", "b"], "y": [1.0, 0.0]}).to_csv(path, index=False)
    assert read_labels(path, "y")["label"].tolist() == ["1", "0"]
