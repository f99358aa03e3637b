"""Turn a JSON request body into typed feature columns, or a 4xx error naming the problem."""

from __future__ import annotations

import reprlib
from typing import Any

from pydantic import TypeAdapter, ValidationError

from {{ cookiecutter.module_name }}.config import ServingSettings
from {{ cookiecutter.module_name }}.schema import (
    FeatureSchema,
    category_label,
)
from {{ cookiecutter.module_name }}.serving.requests import (
    ExtraPolicy,
    records_adapter,
)

# Problems listed in one error's detail; the rest are counted.
MAX_PROBLEMS = 5
# Echo at most this much of a bad value: clients may send huge or deeply nested ones.
SHORT = reprlib.Repr()  # keyword arguments only from Python 3.12
SHORT.maxlevel, SHORT.maxstring, SHORT.maxother, SHORT.maxlist, SHORT.maxdict = 2, 40, 40, 4, 4


class RequestError(ValueError):
    """A client error: HTTP status, a short error name and a detail for the caller."""

    def __init__(
        self, status: int, error: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers or {}

    def to_json(self) -> dict[str, str]:
        """The body of the error response."""
        return {"error": self.error, "detail": self.detail}


def parse_records(
    payload: Any, schema: FeatureSchema, limits: ServingSettings
) -> dict[str, list[Any]]:
    """Validate one record or a list of records; return their values column by column.

    Checks, in order: shape (object or non-empty list), batch size, then every record
    against the request model built from the schema (required columns, extra columns per
    ``serving.extra_columns``, each value's type). Errors name the record and the column.
    The columns hold what ``schema.coerce_features`` would give: numbers (None when
    missing) and string labels (``MISSING_CATEGORY`` when missing); the model takes them
    as they are (``LoadedModel.predict``).
    """
    records = [payload] if isinstance(payload, dict) else payload
    if not isinstance(records, list):
        raise RequestError(
            400, "invalid_body", "send a JSON object (one record) or a list of objects"
        )
    if not records:
        raise RequestError(400, "empty_batch", "the list of records is empty: send at least one")
    if len(records) > limits.max_batch_size:
        raise RequestError(
            413,
            "batch_too_large",
            f"{len(records)} records sent; at most {limits.max_batch_size} per request "
            "(serving.max_batch_size)",
        )
    reader = record_reader(schema, limits.extra_columns)
    try:
        validated = reader.adapter.validate_python(records)
    except ValidationError as error:
        raise describe(error, schema) from None
    return reader.columns(validated)


class RecordReader:
    """The request model of one schema and the columns of the records it validated.

    Built once per schema and policy (``record_reader``), not per request.
    """

    def __init__(self, schema: FeatureSchema, extra_columns: ExtraPolicy) -> None:
        self.schema = schema  # kept alive: the cache below is keyed by its id
        self.adapter: TypeAdapter[Any] = records_adapter(schema, extra_columns)
        self.numeric, self.categorical = schema.numeric, schema.categorical

    def columns(self, records: list[dict[str, Any]]) -> dict[str, list[Any]]:
        """The validated records' values per column, in schema order: numbers as they are
        (None when missing), categorical values as their labels (``category_label``;
        plain text, the usual value, is its own label)."""
        columns = {name: [record[name] for record in records] for name in self.numeric}
        for name in self.categorical:
            values = [record[name] for record in records]
            columns[name] = [
                value if type(value) is str and "." not in value else category_label(value)
                for value in values
            ]
        return columns


_READERS: dict[tuple[int, str], RecordReader] = {}


def record_reader(schema: FeatureSchema, extra_columns: ExtraPolicy) -> RecordReader:
    """The reader for ``schema`` (a served model's, the same object every request)."""
    key = (id(schema), extra_columns)
    reader = _READERS.get(key)
    if reader is None or reader.schema is not schema:
        if len(_READERS) >= 8:  # models swapped in over a long life: keep the last few
            _READERS.clear()
        reader = _READERS[key] = RecordReader(schema, extra_columns)
    return reader


def describe(error: ValidationError, schema: FeatureSchema) -> RequestError:
    """One RequestError for a pydantic error: named after the first problem, listing each
    problem as ``record I: column 'C' ...`` (a record's missing columns in one item)."""
    problems: list[tuple[str, Any]] = []  # (error name, sentence or record index)
    missing: dict[Any, list[str]] = {}
    for item in error.errors(include_url=False):
        if item["type"] == "missing" and len(item["loc"]) == 2:
            index, column = item["loc"]
            if index not in missing:
                missing[index] = []
                problems.append(("missing_column", index))
            missing[index].append(str(column))
            continue
        problem = _problem(item, schema)
        if problem not in problems:  # a label field reports once per alternative type
            problems.append(problem)
    details = [
        f"record {found} lacks required column(s) {missing[found]}"
        if name == "missing_column"
        else found
        for name, found in problems[:MAX_PROBLEMS]
    ]
    if len(problems) > MAX_PROBLEMS:
        details.append(f"and {len(problems) - MAX_PROBLEMS} more problem(s)")
    name = problems[0][0]
    return RequestError(400 if name == "invalid_record" else 422, name, "; ".join(details))


def _problem(item: dict[str, Any], schema: FeatureSchema) -> tuple[str, str]:
    """(error name, sentence) for one pydantic error located at (index, column, ...)."""
    index, *rest = item["loc"]
    where = f"record {index}"
    if not rest:
        return "invalid_record", f"{where} is not a JSON object (got {_show(item['input'])})"
    column = str(rest[0])
    if item["type"] == "extra_forbidden":
        return "extra_column", (
            f"{where}: unknown column {column!r} (serving.extra_columns is 'reject'; "
            f"expected only {schema.features})"
        )
    if item["type"] in ("greater_than_equal", "less_than_equal"):
        low, high = schema.ranges[column]
        return "out_of_range", (
            f"{where}: column {column!r} must lie in [{low}, {high}] (schema.ranges, as in "
            f"training), got {_show(item['input'])}"
        )
    if column in schema.numeric:
        expected = "a finite number or null"
    else:
        expected = "a string, an integer or null"
    return (
        "wrong_type",
        f"{where}: column {column!r} must be {expected}, got {_show(item['input'])}",
    )


def _show(value: Any) -> str:
    """A short repr of a client's value for an error message (bounded depth and length)."""
    return SHORT.repr(value)
