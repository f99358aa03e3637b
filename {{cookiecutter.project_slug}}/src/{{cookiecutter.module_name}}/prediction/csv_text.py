"""Render a batch's output rows as CSV text, faster than Arrow's writer and with its bytes.

Arrow's CSV writer formats each float with the shortest text that reads back the same, and
that was the largest part of a CSV run: more than parsing the input or running the model
(benchmarks/results/batch.md). Probabilities are rounded to a few decimals anyway, so here
they are written with exactly that many, from integer digits, into a fixed-width block
that also holds the constant columns (the model version) and the line end. Every other
column is rendered as Arrow's writer renders it (``quoting_style="needed"``: text in
double quotes with quotes doubled, missing values empty), which the tests check byte for
byte. A column of a type not handled here makes ``render`` return None, and the caller
writes that chunk with Arrow's writer instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Two characters for each number 0..99 as one 16-bit value (little-endian: the first
# character in the low byte), so digits are written in pairs.
_PAIRS = np.array([ord(str(n // 10)) | ord(str(n % 10)) << 8 for n in range(100)], dtype="<u2")


@dataclass(frozen=True)
class _Fixed:
    """A column whose fields all have one width, written straight into a block's view."""

    width: int
    write: Callable[[np.ndarray], None]  # fills a rows x width view of characters


def render(
    frame: pd.DataFrame, schema: pa.Schema, fractions: Mapping[str, int] | None = None
) -> memoryview | None:
    """The rows of ``frame`` as CSV lines without a header, columns in ``schema`` order.

    ``fractions`` names columns of numbers from 0 to 1 and the decimals each gets, all
    written ("0.000180", "1.000000" for 6). None when a column needs Arrow's own writer.
    """
    fractions = fractions or {}
    if not len(frame):
        return memoryview(b"")
    groups: list[pa.Array] = []
    block: list[_Fixed] = []  # consecutive fixed-width columns, written as one
    for field in schema:
        column = frame[field.name]
        fixed = _fixed_width(column, field.type, fractions.get(field.name))
        if fixed is not None:
            block.append(fixed)
            continue
        if field.name in fractions:
            return None  # out of range or missing: Arrow writes the shortest form instead
        if block:
            groups.append(_block(block, len(frame), line_end=False))
            block = []
        variable = _text(column, field.type)
        if variable is None:
            return None
        groups.append(variable)
    if block:
        groups.append(_block(block, len(frame), line_end=True))
        lines = pc.binary_join_element_wise(*groups, ",") if len(groups) > 1 else groups[0]
    else:
        lines = pc.binary_join_element_wise(*groups, ",")
        lines = pc.binary_join_element_wise(lines, pa.scalar(""), "\n")
    return _characters(lines)


def _characters(lines: pa.Array) -> memoryview:
    """The characters of a string array end to end, without copying them."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    start, end = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return memoryview(lines.buffers()[2])[start:end]


def _fixed_width(column: pd.Series, kind: pa.DataType, decimals: int | None) -> _Fixed | None:
    """The column as fields of one width, when it has them: a fraction with its decimals,
    or one value throughout (a categorical of one category, like the model version)."""
    if decimals is not None:
        if not pa.types.is_floating(kind) or not pd.api.types.is_float_dtype(column.dtype):
            return None
        units = fraction_units(column.to_numpy(), decimals)
        if units is None:
            return None
        return _Fixed(2 + decimals, lambda out: _write_fraction(out, units, decimals))
    if isinstance(column.dtype, pd.CategoricalDtype) and len(column.cat.categories) == 1:
        if (column.cat.codes.to_numpy() < 0).any() or not pa.types.is_string(kind):
            return None
        text = np.frombuffer(_quoted(str(column.cat.categories[0])).encode(), dtype=np.uint8)
        return _Fixed(len(text), lambda out: out.__setitem__(slice(None), text))
    return None


def fraction_units(values: np.ndarray, decimals: int) -> np.ndarray | None:
    """``values`` counted in units of the last decimal (0.000180 -> 180 for 6), or None
    if one is not between 0 and 1 (NaN included) or ``decimals`` is not positive."""
    scale = 10**decimals
    scaled = np.rint(values * scale)
    if decimals < 1 or not ((scaled >= 0) & (scaled <= scale)).all():
        return None
    return scaled.astype(np.int32 if scale < 2**31 else np.int64)


def _write_fraction(out: np.ndarray, units: np.ndarray, decimals: int) -> None:
    """Write "0." or "1." and ``decimals`` digits per row into ``out`` (rows x 2 + decimals)."""
    whole, rest = np.divmod(units, 10**decimals)
    out[:, 0] = ord("0") + whole
    out[:, 1] = ord(".")
    pairs = out[:, 2 + decimals % 2 :].view("<u2")  # the digits after the odd one, if any
    for position in range(pairs.shape[1] - 1, -1, -1):  # the last two digits first
        rest, last_two = np.divmod(rest, 100)
        pairs[:, position] = _PAIRS[last_two]
    if decimals % 2:
        out[:, 2] = ord("0") + rest


def _block(columns: list[_Fixed], rows: int, line_end: bool) -> pa.Array:
    """Fixed-width columns side by side with commas between (and the line's end)."""
    width = sum(column.width for column in columns) + len(columns) - 1 + line_end
    text = np.empty((rows, width), dtype=np.uint8)
    start = 0
    for column in columns:
        if start:
            text[:, start - 1] = ord(",")
        column.write(text[:, start : start + column.width])
        start += column.width + 1
    if line_end:
        text[:, -1] = ord("\n")
    offsets = np.arange(0, width * (rows + 1), width, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.string(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(text)]
    )


def _text(column: pd.Series, kind: pa.DataType) -> pa.Array | None:
    """A column's CSV fields as Arrow's writer makes them, or None for other types."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        if not pa.types.is_string(kind):
            return None
        names = pa.array([_quoted(str(name)) for name in column.cat.categories], pa.string())
        codes = column.cat.codes.to_numpy()
        return pc.fill_null(names.take(pa.array(codes, mask=codes < 0)), "")
    try:
        array = pa.array(column, type=kind, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        return None
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        doubled = pc.replace_substring(array.cast(pa.string()), '"', '""')
        return pc.fill_null(pc.binary_join_element_wise('"', doubled, '"', ""), "")
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return pc.fill_null(array.cast(pa.string()), "")
    return None


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'
