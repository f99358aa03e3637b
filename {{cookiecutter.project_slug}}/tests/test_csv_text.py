"""The fast CSV text of a batch's output: Arrow's bytes, and probabilities with fixed decimals."""

from __future__ import annotations

import datetime
import decimal
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

from {{ cookiecutter.module_name }}.batch import csv_text
from {{ cookiecutter.module_name }}.batch.files import TableWriter, to_table


def arrow_text(frame: pd.DataFrame, schema: pa.Schema) -> bytes:
    """What Arrow's CSV writer makes of the same rows: the reference for every other column."""
    sink = io.BytesIO()
    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    pa_csv.write_csv(to_table(frame, schema), sink, write_options=options)
    return sink.getvalue()


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
            "one_level_with_gap": pd.Categorical(["v1", None, "v1", "v1", "v1"]),
            "day": [datetime.date(2024, 1, 2), None, datetime.date(1999, 12, 31), None, None],
            "amount": [decimal.Decimal(text) if text else None for text in AMOUNTS],
            "label_code": pd.Categorical(["été", "b", None, "été", "b"]),
            "model_version": pd.Categorical(["v1"] * 5),
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
            ("one_level_with_gap", pa.string()),
            ("day", pa.date32()),
            ("amount", pa.decimal128(5, 2)),
            ("label_code", pa.dictionary(pa.int32(), pa.string())),
            ("model_version", pa.string()),
        ]
    )
    return frame, schema


def test_columns_without_fractions_are_arrows_bytes() -> None:
    frame, schema = awkward_frame()

    pieces = csv_text.render(frame, schema)

    assert pieces is not None
    assert b"".join(pieces) == arrow_text(frame, schema)


def test_a_frame_with_a_shifted_index_renders_its_own_rows() -> None:
    """Chunks after the first keep the input's row labels (``chunk.loc[valid]``)."""
    frame, schema = awkward_frame()
    shifted = frame.set_axis(range(100, 105)).iloc[1:]

    assert b"".join(csv_text.render(shifted, schema)) == arrow_text(shifted, schema)


def test_fractions_get_exactly_their_decimals_and_read_back_rounded() -> None:
    values = np.concatenate(
        [[0.0, 1.0, 0.5, 0.00018, 0.9999995, 0.0000005], np.random.default_rng(0).random(10_000)]
    )
    frame = pd.DataFrame({"probability_a": values, "probability_b": 1 - values})
    schema = pa.schema([("probability_a", pa.float64()), ("probability_b", pa.float64())])

    for decimals in (8, 7, 6, 4, 3, 1):
        text = b"".join(csv_text.render(frame, schema, dict.fromkeys(schema.names, decimals)))
        lines = text.decode().splitlines()
        assert lines[:4] == [
            f"{0:.{decimals}f},{1:.{decimals}f}",
            f"{1:.{decimals}f},{0:.{decimals}f}",
            f"{0.5:.{decimals}f},{0.5:.{decimals}f}",
            f"{np.round(0.00018, decimals):.{decimals}f},{np.round(1 - 0.00018, decimals):.{decimals}f}",
        ]
        fields = [line.split(",") for line in lines]
        assert {len(field) for row in fields for field in row} == {2 + decimals}
        back = pd.read_csv(io.BytesIO(text), header=None).to_numpy()
        np.testing.assert_array_equal(back[:, 0], np.round(values, decimals))
        np.testing.assert_array_equal(back[:, 1], np.round(1 - values, decimals))


def test_fraction_blocks_sit_between_other_columns() -> None:
    frame = pd.DataFrame(
        {
            "row": [1, 22],
            "probability_a": [0.25, 1.0],
            "prediction": pd.Categorical(["a,b", "c"]),
            "probability_b": [0.75, 0.0],
            "model_version": pd.Categorical(["v1", "v1"]),
        }
    )
    schema = pa.schema(
        [
            ("row", pa.int64()),
            ("probability_a", pa.float64()),
            ("prediction", pa.string()),
            ("probability_b", pa.float64()),
            ("model_version", pa.string()),
        ]
    )
    fractions = {"probability_a": 6, "probability_b": 6}

    text = b"".join(csv_text.render(frame, schema, fractions))

    assert text == b'1,0.250000,"a,b",0.750000,"v1"\n22,1.000000,"c",0.000000,"v1"\n'


def test_missing_and_out_of_range_fractions_take_arrows_form_field_by_field() -> None:
    """Only the odd fields lose the fixed decimals; the rest of the column keeps them."""
    frame = pd.DataFrame({"row": [1, 2, 3, 4, 5], "p": [0.5, np.nan, 1.5, -0.25, np.inf]})
    schema = pa.schema([("row", pa.int64()), ("p", pa.float64())])

    text = b"".join(csv_text.render(frame, schema, {"p": 6}))

    assert text == b"1,0.500000\n2,\n3,1.5\n4,-0.25\n5,inf\n"


@pytest.mark.parametrize("decimals", [0, 16, 19])  # none, or more than a float64 holds
def test_decimals_out_of_reach_leave_the_column_to_arrows_form(decimals: int) -> None:
    frame = pd.DataFrame({"p": [0.5, 1.0, 0.1]})
    schema = pa.schema([("p", pa.float64())])

    rendered = b"".join(csv_text.render(frame, schema, {"p": decimals}))

    assert rendered == arrow_text(frame, schema)


def test_a_binary_column_leaves_the_chunk_to_arrow(tmp_path: Path) -> None:
    frame = pd.DataFrame({"key": [b"a,b", b"c"], "p": [0.5, 0.25]})
    schema = pa.schema([("key", pa.binary()), ("p", pa.float64())])
    assert csv_text.render(frame, schema, {"p": 6}) is None

    path = tmp_path / "out.csv"
    with TableWriter(path, "csv", schema, fractions={"p": 6}) as writer:
        writer.write(frame)

    assert path.read_bytes() == b'"key","p"\n' + arrow_text(frame, schema)


def test_large_frames_are_rendered_in_slices_that_join_up(monkeypatch: pytest.MonkeyPatch) -> None:
    frame, schema = awkward_frame()
    whole = b"".join(csv_text.render(frame, schema))
    monkeypatch.setattr(csv_text, "SLICE_ROWS", 2)

    pieces = csv_text.render(frame, schema)

    assert len(pieces) == 3
    assert b"".join(pieces) == whole


def test_the_writer_uses_fixed_decimals_and_one_header(tmp_path: Path) -> None:
    schema = pa.schema([("row", pa.int64()), ("probability_a", pa.float64())])
    path = tmp_path / "out.csv"
    with TableWriter(path, "csv", schema, fractions={"probability_a": 6}) as writer:
        writer.write(pd.DataFrame({"row": [1], "probability_a": [0.5]}))
        writer.write(pd.DataFrame({"row": [], "probability_a": []}))
        writer.write(pd.DataFrame({"row": [2], "probability_a": [0.125]}))

    assert path.read_bytes() == b'"row","probability_a"\n1,0.500000\n2,0.125000\n'


def test_an_empty_output_still_has_its_header(tmp_path: Path) -> None:
    schema = pa.schema([("row", pa.int64()), ("prediction", pa.string())])
    path = tmp_path / "out.csv"
    with TableWriter(path, "csv", schema):
        pass

    assert path.read_bytes() == b'"row","prediction"\n'


def test_timestamps_are_arrows_text() -> None:
    frame = pd.DataFrame({"at": pd.to_datetime(["2024-01-02 03:04:05", None])})
    schema = pa.schema([("at", pa.timestamp("ns"))])

    assert b"".join(csv_text.render(frame, schema)) == arrow_text(frame, schema)
