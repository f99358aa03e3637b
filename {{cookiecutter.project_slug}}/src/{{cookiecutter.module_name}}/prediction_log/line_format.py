"""The prediction log's line format: one JSON line per served record.

Each line holds ``time`` (UTC, ISO 8601), ``request_id``, ``model_version``, ``record``
(the index in the request), ``prediction`` and ``features`` (the validated values; columns
in ``monitoring.log.exclude`` dropped, those in ``monitoring.log.hash`` replaced by a sha256
prefix). ``monitoring/logs.py`` reads them back.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

REQUEST_ID_HEADER = "X-Request-ID"
# A client's id is kept only if it is short and plain: it ends up in files and headers.
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
HASH_DIGITS = 16

# A column name -> its values, one per record.
Columns = Mapping[str, Sequence[Any]]
# (model version, columns, [(request id, time, records)], labels): see LineEncoder.lines.
Group = tuple[str, Columns, Sequence[tuple[str, datetime | None, int]], Sequence[str]]


def request_id(sent: str | None) -> str:
    """The client's ``X-Request-ID`` when it is safe to echo and store, else 128 random
    bits in hex (a uuid4's form, without building a UUID: a third of the time)."""
    if sent and SAFE_REQUEST_ID.match(sent):
        return sent
    return os.urandom(16).hex()


def hash_value(value: Any, salt: str) -> str | None:
    """The first hex digits of sha256(salt + value); a missing value stays missing."""
    if value is None:
        return None
    return hashlib.sha256(f"{salt}{value}".encode()).hexdigest()[:HASH_DIGITS]


class LineEncoder:
    """Encodes records as log lines, with the log's privacy options applied."""

    def __init__(
        self, exclude: Sequence[str] = (), hashed: Sequence[str] = (), salt: str = ""
    ) -> None:
        self.exclude = frozenset(exclude)
        self.hashed = frozenset(hashed)
        self.salt = salt

    def lines(
        self,
        model_version: str,
        features: Columns,
        requests: Sequence[tuple[str, datetime | None, int]],
        labels: Sequence[str],
    ) -> list[bytes]:
        """The JSON lines (UTF-8, newline-terminated) of ``requests``: (request id, time,
        record count) each, whose records are the rows of ``features`` (columns), in order.

        orjson encodes one dict per record (the writer's largest cost on a batch): the
        template's benchmarks/serving.py shows the log's share of a request as the project
        against the project with its log off.
        """
        names = [name for name in features if name not in self.exclude]
        columns = [self._column(name, features[name]) for name in names]
        # Rows of values (empty rows when every column is excluded).
        rows = list(zip(*columns, strict=True)) if columns else [()] * len(labels)
        if len(rows) != len(labels) or len(labels) != sum(count for *_, count in requests):
            raise ValueError("the features, labels and request sizes do not match")
        records: list[dict[str, Any]] = []
        start = 0
        for request, stamp, count in requests:
            when = (stamp or datetime.now(UTC)).isoformat(timespec="milliseconds")
            records += [
                {
                    "time": when,
                    "request_id": request,
                    "model_version": model_version,
                    "record": index,
                    "prediction": labels[start + index],
                    # Each row has one value per name: the zip above checked the columns.
                    "features": dict(zip(names, rows[start + index], strict=False)),
                }
                for index in range(count)
            ]
            start += count
        try:
            return [orjson.dumps(record, option=_LINE_OPTIONS) for record in records]
        except orjson.JSONEncodeError:  # rare: one call per line is then needed
            return [encode_line(record) for record in records]

    def _column(self, name: str, values: Sequence[Any]) -> Sequence[Any]:
        """A column's values as the line holds them: hashed columns hashed (each distinct
        value once); NaN and infinities become null when the line is encoded."""
        if name not in self.hashed:
            return values
        hashed: dict[Any, str | None] = {}
        for value in values:
            if value not in hashed:
                hashed[value] = hash_value(_plain(value), self.salt)
        return [hashed[value] for value in values]


def encode_line(record: dict[str, Any]) -> bytes:
    """One record's line. orjson writes NaN and infinities as null, as the line format
    wants; what it cannot encode (an integer beyond 64 bits) the standard library does."""
    try:
        return orjson.dumps(record, option=_LINE_OPTIONS)
    except orjson.JSONEncodeError:
        return (_ENCODER.encode(_plain_record(record)) + "\n").encode()


def _plain_record(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with NaN and infinities as None, for the standard library's encoder."""
    features = {name: _plain(value) for name, value in record["features"].items()}
    return {**record, "prediction": _plain(record["prediction"]), "features": features}


def _plain(value: Any) -> Any:
    """The value JSON can hold: NaN (a missing number) and infinities become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# The fallback for what orjson refuses; numpy's scalars and arrays go through orjson.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_LINE_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY
