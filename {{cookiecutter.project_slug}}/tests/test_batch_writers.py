"""A batch's output files, as Arrow writes them: every value reads back as it was written."""

from __future__ import annotations

import datetime
import decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from {{ cookiecutter.module_name }}.batch.tables import to_table
from {{ cookiecutter.module_name }}.batch.writers import TableWriter

AMOUNTS = ["1.50", "", "-3.25", "0.00", "10.01"]


def awkward_frame() -> tuple[pd.DataFrame, pa.Schema]:
    """Every kind of column a batch output can hold, with the values that need care."""
    frame = pd.DataFrame(
        {
            "row": np.array([1, 2, 3, 4, 5], dtype="int64"),
            "customer": ["plain", 'say "hi"', "a,b", "two\nlines", None],
            "empty_text": ["", "x", "", None, " padded "],
            "number_with_gaps": [7, np.nan, -3, 10**15, np.nan],  # float in pandas, int out
            "ratio": [0.1, -2.5, np.nan, 1e-7, 123456789.125],
            "flag": [True, False, None, True, False],
            "prediction": pd.Categorical(["Adelie", None, 'Q"uote', "Adelie", "x,y"]),
            "probability_a": [0.000183, 1.0, 0.0, 0.5, 0.333333],
            "day": [datetime.date(2024, 1, 2), None, datetime.date(1999, 12, 31), None, None],
            "amount": [decimal.Decimal(text) if text else None for text in AMOUNTS],
            "model_version": pd.Categorical(["007"] * 5),
        }
    )
    schema = pa.schema(
        [
            ("row", pa.int64()),
            ("customer", pa.string()),
            ("empty_text", pa.string()),
            ("number_with_gaps", pa.int64()),
            ("ratio", pa.float64()),
            ("flag", pa.bool_()),
            ("prediction", pa.string()),
            ("probability_a", pa.float64()),
            ("day", pa.date32()),
            ("amount", pa.decimal128(5, 2)),
            ("model_version", pa.string()),
        ]
    )
    return frame, schema


def read_back(path: Path, schema: pa.Schema) -> pa.Table:
    """A CSV output read with its own types; an empty field is missing, ``""`` is text."""
    options = pa_csv.ConvertOptions(
        column_types=schema, strings_can_be_null=True, quoted_strings_can_be_null=False
    )
    return pa_csv.read_csv(path, convert_options=options)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_every_value_reads_back_as_written_in_chunks(tmp_path: Path, kind: str) -> None:
    frame, schema = awkward_frame()
    path = tmp_path / f"out.{kind}"
    with TableWriter(path, kind, schema) as writer:
        writer.write(frame.iloc[:2])
        writer.write(frame.iloc[:0])  # a chunk whose rows were all refused
        writer.write(frame.iloc[2:])  # a later chunk keeps the input's row labels

    back = read_back(path, schema) if kind == "csv" else pq.read_table(path)

    assert back.schema.names == schema.names
    assert back.equals(to_table(frame, schema))


def test_csv_has_one_quoted_header_and_text_in_quotes(tmp_path: Path) -> None:
    frame, schema = awkward_frame()
    path = tmp_path / "out.csv"
    with TableWriter(path, "csv", schema) as writer:
        writer.write(frame.iloc[:1])
        writer.write(frame.iloc[1:2])

    lines = path.read_text(encoding="utf-8").splitlines()

    assert lines[0] == ",".join(f'"{name}"' for name in schema.names)
    assert len(lines) == 3  # one header, then one line per row
    # Text is quoted, so empty text ("") differs from a missing value (an empty field),
    # and a version of digits only reads back as text ("007").
    assert lines[1].startswith('1,"plain","",7,')
    assert lines[1].endswith(',"007"')
    assert lines[2].startswith('2,"say ""hi""","x",,')


def test_rounded_probabilities_are_written_with_their_few_digits(tmp_path: Path) -> None:
    schema = pa.schema([("probability_a", pa.float64())])
    values = np.random.default_rng(0).random(1000).round(6)
    path = tmp_path / "out.csv"
    with TableWriter(path, "csv", schema) as writer:
        writer.write(pd.DataFrame({"probability_a": values}))

    fields = path.read_text(encoding="utf-8").splitlines()[1:]

    assert max(len(field) for field in fields) <= len("0.123456")
    assert np.array_equal(pd.read_csv(path)["probability_a"].to_numpy(), values)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_an_output_without_rows_still_has_its_columns(tmp_path: Path, kind: str) -> None:
    schema = pa.schema([("row", pa.int64()), ("prediction", pa.string())])
    path = tmp_path / f"out.{kind}"
    with TableWriter(path, kind, schema):
        pass

    back = read_back(path, schema) if kind == "csv" else pq.read_table(path)

    assert back.schema.equals(schema)
    assert back.num_rows == 0
