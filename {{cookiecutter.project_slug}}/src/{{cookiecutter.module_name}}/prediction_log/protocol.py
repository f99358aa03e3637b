"""What a serving worker and its writer process send each other over their pipes.

Worker -> writer: frames of a 4-byte big-endian length and a pickle (both ends run this
same code; the pipe is private to them):

- ``("setup", WriterSetup)`` first, once;
- ``("log", request_id, version, unix_time, body, labels, shape)`` per answered request,
  where ``shape`` (the version's ``RecordShape``) comes with a version's first request
  and is None after.

Writer -> worker, one line each: ``done N`` when N records were written or counted as
lost (``done 0`` after reading part of a frame: the worker then sends the rest);
``error REASON N`` when N records could not be written (a full disk: ``ENOSPC``).
"""

from __future__ import annotations

import json
import pickle
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from {{ cookiecutter.module_name }}.prediction_log.line_format import (
    Columns,
)

HEADER = struct.Struct("!I")

# The JSON types validation lets through (strict: no booleans, no numeric strings).
NUMBER_TYPES = frozenset({float, int, type(None)})
LABEL_TYPES = frozenset({str, int, float, type(None)})
# schema.category_label's rule, here without pandas (the writer process stays light):
# "2.0" and 2.0 are the label "2". tests/test_log_writer.py checks both give one label.
WHOLE_FLOAT_TEXT = re.compile(r"([+-]?[0-9]+)\.0+")


def parse_json(body: bytes) -> Any:
    """A request body's JSON value, read the same way by the server and by the writer.

    orjson reads it: a quarter of the standard library's time on a 100-record body
    (the template's benchmarks/json_codec.py). What orjson refuses, the standard library reads again, as
    the server did before: NaN and Infinity literals, lone surrogates, UTF-16 and UTF-32.
    So such a body gets the same answer as ever (validation refuses the value and names
    its column), and a malformed one the standard library's error message: ValueError
    (or RecursionError). One reading differs: orjson reads an integer beyond 64 bits as
    a float, as JavaScript does.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def label(value: str | int | float) -> str:
    """The label of a validated categorical value (validation refused 2.5 already)."""
    if type(value) is str:
        whole = WHOLE_FLOAT_TEXT.fullmatch(value) if "." in value else None
        return whole.group(1) if whole else value
    if type(value) is float:
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class WriterSetup:
    """The log's file, bound and privacy options (``params.yaml``) and the salt (the
    environment), sent over the pipe so that tests and benchmarks can log anywhere."""

    path: Path
    max_bytes: int
    backups: int
    exclude: tuple[str, ...]
    hashed: tuple[str, ...]
    salt: str
    # "file": append to ``path``; "stdout": write to ``stdout_fd``, the worker's standard
    # output handed to the writer process (its own fd 1 is the reply pipe).
    sink: str = "file"
    stdout_fd: int | None = None


@dataclass(frozen=True)
class RecordShape:
    """What the writer needs of a model version's feature schema, as plain data: the
    worker validated every body it hands over, so the writer only picks each record's
    values and types them as validation did (checked against ``validation.parse_records``
    by the tests), without pandas, pydantic or the settings."""

    features: tuple[str, ...]
    numeric: frozenset[str]
    missing_label: str  # schema.MISSING_CATEGORY: what a missing categorical value becomes

    def columns(self, records: list[Any]) -> Columns:
        """The records' feature values, typed as request validation types them: numbers
        as floats, labels as strings (integers in words, a missing one as the missing
        label); extra keys dropped. ValueError for a record validation would refuse."""
        columns: dict[str, list[Any]] = {}
        for name in self.features:
            values = [record[name] for record in records]  # KeyError: not validated
            if name in self.numeric:
                if not set(map(type, values)) <= NUMBER_TYPES:
                    raise ValueError(f"column {name!r}: a value is not a number")
                columns[name] = [None if value is None else float(value) for value in values]
            else:
                if not set(map(type, values)) <= LABEL_TYPES or any(
                    type(value) is float and not value.is_integer() for value in values
                ):
                    raise ValueError(f"column {name!r}: a value is not a label")
                columns[name] = [
                    self.missing_label if value is None else label(value) for value in values
                ]
        return columns


def pack(message: tuple[Any, ...]) -> bytes:
    """One frame: the pickle's length, then the pickle."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


def unpack(buffer: bytearray) -> list[tuple[Any, ...]]:
    """The whole frames at the start of ``buffer``, removed from it; a partial one stays."""
    messages = []
    start = 0
    while len(buffer) - start >= HEADER.size:
        (size,) = HEADER.unpack_from(buffer, start)
        end = start + HEADER.size + size
        if len(buffer) < end:
            break
        frame = buffer[start + HEADER.size : end]
        # Written by pack() in this server's own worker, over a pipe only the two share:
        # never bytes from a client.
        messages.append(pickle.loads(frame))  # nosec B301: a private pipe from our own worker
        start = end
    del buffer[:start]
    return messages
