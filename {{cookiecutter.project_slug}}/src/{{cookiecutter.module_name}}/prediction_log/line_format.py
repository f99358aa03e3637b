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
from collections.abc import Callable, Mapping, Sequence
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

        Built column by column, each distinct value encoded once with its key, and each
        row's features joined in one call: encoding a dict per record costs more (once
        tried: slower on a served burst of thousands of records).
        """
        names = [name for name in features if name not in self.exclude]
        columns = [
            self._encoded(name, features[name], _ENCODER.encode(str(name)) + ":") for name in names
        ]
        # Each row's '"name":value,...' (empty when every column is excluded).
        rows = list(map(",".join, zip(*columns, strict=True))) if columns else [""] * len(labels)
        if len(rows) != len(labels) or len(labels) != sum(count for *_, count in requests):
            raise ValueError("the features, labels and request sizes do not match")
        version = _ENCODER.encode(model_version)
        encoded_labels = _Encoded()
        lines: list[bytes] = []
        start = 0
        for request, stamp, count in requests:
            when = (stamp or datetime.now(UTC)).isoformat(timespec="milliseconds")
            head = "".join(
                [
                    '{"time":',
                    _ENCODER.encode(when),
                    ',"request_id":',
                    _ENCODER.encode(request),
                    ',"model_version":',
                    version,
                    ',"record":',
                ]
            )
            # Braces joined with "+", not doubled in the f-string: the template's Jinja
            # would read two opening ones as an expression.
            lines += [
                (
                    f'{head}{index},"prediction":{encoded_labels[labels[start + index]]},'
                    + '"features":{'
                    + rows[start + index]
                    + "}}\n"
                ).encode()
                for index in range(count)
            ]
            start += count
        return lines

    def _encoded(self, name: str, values: Sequence[Any], prefix: str) -> list[str]:
        """A column's values as JSON text after ``prefix`` (its key): NaN becomes null,
        hashed columns are hashed."""
        if name in self.hashed:
            hashed = _Encoded(lambda value: hash_value(_plain(value), self.salt), prefix)
            return [hashed[value] for value in values]
        encoded = _Encoded(prefix=prefix)
        return [encoded[value] for value in values]


def _plain(value: Any) -> Any:
    """The value JSON can hold: NaN (a missing number) and infinities become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class _Encoded(dict[Any, str]):
    """value -> ``prefix`` and its JSON text (after ``convert``), made once per distinct
    value."""

    def __init__(self, convert: Callable[[Any], Any] = _plain, prefix: str = "") -> None:
        super().__init__()
        self.convert = convert
        self.prefix = prefix

    def __missing__(self, value: Any) -> str:
        text = self.prefix + json_text(self.convert(value))
        self[value] = text
        return text


def json_text(value: Any) -> str:
    """``value`` as JSON text, by orjson: 0.17x the standard library's time per value (the
    template's benchmarks/json_codec.py), most of a line's cost when a batch's values
    differ. What orjson refuses (an integer beyond 64 bits) the standard library encodes."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    except orjson.JSONEncodeError:
        return _ENCODER.encode(value)
