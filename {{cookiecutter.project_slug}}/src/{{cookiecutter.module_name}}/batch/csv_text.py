"""Render a batch's output rows as CSV text, faster than Arrow's writer and with its bytes.

Arrow's CSV writer formats each float with the shortest text that reads back the same, and
that was the largest part of a CSV run: more than parsing the input or running the model
(benchmarks/results/batch.md). Probabilities are rounded to a few decimals anyway, so here
they are written with exactly that many, from integer digits, into a fixed-width block
that also holds the constant columns (the model version) and the line end. Every other
column is rendered as Arrow's writer renders it (``quoting_style="needed"``: text and
binary in double quotes with quotes doubled, other types cast to text, missing values
empty), which the tests check byte for byte. Only binary columns, and types Arrow cannot
turn into text, make ``render`` return None: the caller then writes that chunk with
Arrow's writer, whose probabilities have the shortest form instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import is_float_dtype

# Rows rendered at a time: keeps each text array far below Arrow's 2 GiB string limit
# and the text of a large chunk from being held all at once.
SLICE_ROWS = 65_536
_TEXT_LIMIT = 2**31 - 1  # characters in one Arrow string array (32-bit offsets)
# A float64 holds 15-17 significant digits: past 15 decimals the fixed form would show
# noise, and past 18 its integer units would overflow. Arrow's shortest form serves.
_MOST_DECIMALS = 15


@dataclass(frozen=True)
class _Fixed:
    """A column whose fields all have one width: text shared by every row, with each
    row's own bytes laid over it at fixed offsets."""

    text: bytes
    parts: tuple[tuple[int, np.ndarray], ...] = ()  # (offset in the field, a bytes per row)


def render(
    frame: pd.DataFrame, schema: pa.Schema, fractions: Mapping[str, int] | None = None
) -> list[memoryview] | None:
    """The rows of ``frame`` as CSV lines without a header, columns in ``schema`` order,
    in pieces to write one after the other.

    ``fractions`` names columns of numbers from 0 to 1 and the decimals each gets, all
    written ("0.000180", "1.000000" for 6); a missing value is an empty field, and a value
    outside 0..1 gets Arrow's shortest form. None when a column needs Arrow's own writer.
    """
    pieces = []
    for start in range(0, len(frame), SLICE_ROWS):
        piece = _render_rows(frame.iloc[start : start + SLICE_ROWS], schema, fractions or {})
        if piece is None:
            return None
        pieces.append(piece)
    return pieces


def _render_rows(
    frame: pd.DataFrame, schema: pa.Schema, fractions: Mapping[str, int]
) -> memoryview | None:
    """One slice of ``render``: variable columns as Arrow text, fixed ones as blocks."""
    groups: list[pa.Array | None] = []
    block: list[_Fixed] = []  # consecutive fixed-width columns, written as one
    for field in schema:
        column = frame[field.name]
        if field.name in fractions:
            rendered = _fraction(column, field.type, fractions[field.name])
        else:
            rendered = _constant(column, field.type) or _text(column, field.type)
        if isinstance(rendered, _Fixed):
            block.append(rendered)
            continue
        if rendered is None:
            return None
        if block:
            groups.append(_block(block, len(frame), line_end=False))
            block = []
        groups.append(rendered)
    if block:
        groups.append(_block(block, len(frame), line_end=True))
    if any(group is None for group in groups):
        return None
    try:
        lines = pc.binary_join_element_wise(*groups, ",") if len(groups) > 1 else groups[0]
        if not block:
            lines = pc.binary_join_element_wise(lines, pa.scalar(""), "\n")
    except (pa.ArrowCapacityError, pa.ArrowInvalid):  # over 2 GiB of text in one slice
        return None
    return _characters(lines)


def _characters(lines: pa.Array) -> memoryview:
    """The characters of a string array end to end, without copying them."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    start, end = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return memoryview(lines.buffers()[2])[start:end]


def _constant(column: pd.Series, kind: pa.DataType) -> _Fixed | None:
    """A text column holding one value throughout (a categorical of one category, like
    the model version) as fields of one width; None for any other column."""
    if not isinstance(column.dtype, pd.CategoricalDtype) or len(column.cat.categories) != 1:
        return None
    if (column.cat.codes.to_numpy() < 0).any() or not is_text_type(kind):
        return None
    return _Fixed(_quoted(str(column.cat.categories[0])).encode())


def _fraction(column: pd.Series, kind: pa.DataType, decimals: int) -> _Fixed | pa.Array | None:
    """A column of numbers from 0 to 1 with exactly ``decimals`` decimals: fields of one
    width when every value is in range, else field by field, with what Arrow writes
    (empty if missing) where a value is not."""
    if not 1 <= decimals <= _MOST_DECIMALS or not (
        pa.types.is_floating(kind) and is_float_dtype(column.dtype)
    ):
        return _text(column, kind)
    scale = 10**decimals
    scaled = np.rint(column.to_numpy(dtype=np.float64, na_value=np.nan) * scale)
    in_range = (scaled >= 0) & (scaled <= scale)  # NaN fails both comparisons
    everywhere = bool(in_range.all())
    units = (scaled if everywhere else np.where(in_range, scaled, 0)).astype(
        np.int32 if scale < 2**31 else np.int64
    )
    fixed = _fixed_decimals(units, decimals)
    if everywhere:
        return fixed
    other = _text(column, kind)
    fixed = _block([fixed], len(units), line_end=False)
    if fixed is None or other is None:
        return None
    return pc.if_else(pa.array(in_range), fixed, other)


def _fixed_decimals(units: np.ndarray, decimals: int) -> _Fixed:
    """Fields "0." or "1." and ``decimals`` digits for ``units`` from 0 to 10**decimals.

    The field starts with the whole part and the first ``decimals % 4`` digits, looked up
    in a table of that many digits; the other digits follow four at a time (``_quads``).
    """
    quads, lead = divmod(decimals, 4)
    rest = units
    parts = []
    for position in range(quads - 1, -1, -1):  # the last four digits first
        rest, last_four = np.divmod(rest, 10_000)
        parts.append((2 + lead + 4 * position, _quads()[last_four]))
    parts.append((0, _heads(lead)[rest]))
    return _Fixed(b"0" * (2 + decimals), tuple(parts))


@cache
def _quads() -> np.ndarray:
    """Four digits for each number 0..9999, as four bytes: the digits after the first few
    are looked up four at a time and laid into each row's field in one assignment. Built
    on first use, so only processes that write CSV pay its 6 ms."""
    return _as_number(np.array([f"{n:04d}".encode() for n in range(10_000)], dtype="S4"))


@cache
def _heads(lead: int) -> np.ndarray:
    """The starts of fields, "0." or "1." and ``lead`` digits, for 0 to 10**lead."""
    starts = [divmod(number, 10**lead) for number in range(10**lead + 1)]
    text = [f"{whole}." + (f"{digits:0{lead}d}" if lead else "") for whole, digits in starts]
    return _as_number(np.array([line.encode() for line in text], dtype=f"S{2 + lead}"))


def _as_number(table: np.ndarray) -> np.ndarray:
    """The same bytes as unsigned integers when their width allows: numpy looks up and
    assigns those several times faster than byte strings (measured: 0.14 against 0.40 ms
    per 100,000 rows)."""
    width = table.dtype.itemsize
    return table.view(f"<u{width}") if width in (1, 2, 4, 8) else table


def _block(columns: list[_Fixed], rows: int, line_end: bool) -> pa.Array | None:
    """Fixed-width columns side by side with commas between (and the line's end).

    Every row starts as a copy of the shared text; each column's own bytes are then
    assigned through a record view of the rows, one field per part, in one pass each.
    """
    line = b",".join(column.text for column in columns) + (b"\n" if line_end else b"")
    names, formats, offsets, values = [], [], [], []
    start = 0
    for column in columns:
        for offset, part in column.parts:
            names.append(f"part{len(names)}")
            formats.append(part.dtype)
            offsets.append(start + offset)
            values.append(part)
        start += len(column.text) + 1
    text = np.empty((rows, len(line)), dtype=np.uint8)
    text[:] = np.frombuffer(line, dtype=np.uint8)
    if names:
        layout = np.dtype(
            {"names": names, "formats": formats, "offsets": offsets, "itemsize": len(line)}
        )
        record = text.view(layout).reshape(rows)
        for name, part in zip(names, values, strict=True):
            record[name] = part
    return _string_array(text)


def _string_array(text: np.ndarray) -> pa.Array | None:
    """The rows of a rows x width character matrix as a string array (None past 2 GiB)."""
    rows, width = text.shape
    if rows * width > _TEXT_LIMIT:
        return None
    offsets = np.arange(0, width * (rows + 1), width, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.string(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(text))]
    )


def _text(column: pd.Series, kind: pa.DataType) -> pa.Array | None:
    """A column's CSV fields as Arrow's writer makes them, or None for binary columns and
    types Arrow cannot write as text."""
    values_kind = kind.value_type if pa.types.is_dictionary(kind) else kind
    if isinstance(column.dtype, pd.CategoricalDtype) and is_text_type(values_kind):
        names = pa.array([_quoted(str(name)) for name in column.cat.categories], pa.string())
        codes = column.cat.codes.to_numpy()
        return pc.fill_null(names.take(pa.array(codes, mask=codes < 0)), "")
    try:
        array = pa.array(column, type=kind, from_pandas=True)
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        if is_text_type(array.type):
            doubled = pc.replace_substring(array.cast(pa.string()), '"', '""')
            return pc.fill_null(pc.binary_join_element_wise('"', doubled, '"', ""), "")
        if _is_binary_type(array.type):
            return None  # Arrow writes the raw bytes, quoted; left to it
        return pc.fill_null(array.cast(pa.string()), "")  # what Arrow writes unquoted
    except (pa.ArrowException, TypeError, ValueError):
        return None


def is_text_type(kind: pa.DataType) -> bool:
    """Arrow types that hold text (written in double quotes)."""
    return (
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )


def _is_binary_type(kind: pa.DataType) -> bool:
    return (
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind)
        or pa.types.is_binary_view(kind)
    )


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'
