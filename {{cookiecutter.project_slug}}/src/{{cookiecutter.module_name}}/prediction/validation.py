"""Turn a JSON request body into typed feature rows, or a 4xx error naming the problem."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from {{ cookiecutter.module_name }}.config import ServingSettings
from {{ cookiecutter.module_name }}.schema import FeatureSchema, SchemaError


class RequestError(ValueError):
    """A client error: HTTP status, a short error name and a detail for the caller."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail

    def to_json(self) -> dict[str, str]:
        """The body of the error response."""
        return {"error": self.error, "detail": self.detail}


def parse_records(payload: Any, schema: FeatureSchema, limits: ServingSettings) -> pd.DataFrame:
    """Validate one record or a list of records; return them as typed feature rows.

    Checks, in order: shape (object or non-empty list of objects), batch size, required
    columns, extra columns (per ``serving.extra_columns``) and each value's type.
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
    for index, record in enumerate(records):
        _check_record(index, record, schema, limits)
    frame = pd.DataFrame.from_records(records, columns=schema.features)
    try:
        return schema.coerce_features(frame)
    except SchemaError as error:
        raise RequestError(422, "wrong_type", str(error)) from None


def _check_record(index: int, record: Any, schema: FeatureSchema, limits: ServingSettings) -> None:
    where = f"record {index}"
    if not isinstance(record, dict):
        raise RequestError(400, "invalid_record", f"{where} is not a JSON object")
    missing = schema.missing_columns(record)
    if missing:
        raise RequestError(422, "missing_column", f"{where} lacks required column(s) {missing}")
    if limits.extra_columns == "reject":
        extra = sorted(set(record) - set(schema.features))
        if extra:
            raise RequestError(422, "extra_column", f"{where} has unknown column(s) {extra}")
    for name in schema.numeric:
        value = record[name]
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isinf(value):
            raise RequestError(
                422,
                "wrong_type",
                f"{where}: column {name!r} must be a number or null, got {value!r}",
            )
    for name in schema.categorical:
        value = record[name]
        if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
            raise RequestError(
                422,
                "wrong_type",
                f"{where}: column {name!r} must be a string or null, got {value!r}",
            )
