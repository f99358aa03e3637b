"""Awkward but legal inputs get sensible predictions; illegal ones get a precise error.

Records are derived from the model's own example row, so these tests hold for whatever
dataset params.yaml points at.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd
import pytest

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.model import (
    LoadedModel,
    typed_frame,
)
from {{ cookiecutter.module_name }}.serving.validation import (
    RequestError,
    parse_records,
)


def predict(model: LoadedModel, settings: Settings, payload: Any) -> list[dict[str, Any]]:
    return model.predict(parse_records(payload, model.schema, settings.serving))


def assert_valid(model: LoadedModel, rows: list[dict[str, Any]]) -> None:
    if model.task == "regression":  # a finite number per row, no probabilities
        for row in rows:
            assert set(row) == {"prediction"}
            assert math.isfinite(row["prediction"])
        return
    classes = set(model.metadata["classes"])
    for row in rows:
        assert row["prediction"] in classes
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)


def test_single_row(model: LoadedModel, trained: Settings, example_record: dict) -> None:
    rows = predict(model, trained, example_record)
    assert len(rows) == 1
    assert_valid(model, rows)


def test_batch_keeps_order_and_length(
    model: LoadedModel, trained: Settings, example_record: dict
) -> None:
    rows = predict(model, trained, [example_record] * 5)
    assert len(rows) == 5
    assert len({row["prediction"] for row in rows}) == 1


def test_every_value_missing(model: LoadedModel, trained: Settings, example_record: dict) -> None:
    record = dict.fromkeys(example_record)
    assert_valid(model, predict(model, trained, record))


def test_unseen_category(model: LoadedModel, trained: Settings, example_record: dict) -> None:
    if not model.schema.categorical:
        pytest.skip("the schema has no categorical column")
    for name in model.schema.categorical:
        example_record[name] = "a-level-never-seen-in-training"
    assert_valid(model, predict(model, trained, example_record))


def test_extra_column_is_ignored(
    model: LoadedModel, trained: Settings, example_record: dict
) -> None:
    plain = predict(model, trained, example_record)
    with_extra = predict(model, trained, {**example_record, "request_id": "abc-123"})
    assert with_extra == plain


def test_extra_column_is_refused_when_configured(
    model: LoadedModel, trained: Settings, example_record: dict
) -> None:
    strict = trained.serving.model_copy(update={"extra_columns": "reject"})
    with pytest.raises(RequestError, match="request_id") as caught:
        parse_records({**example_record, "request_id": 1}, model.schema, strict)
    assert caught.value.status == 422


def test_wrong_type_names_the_column(
    model: LoadedModel, trained: Settings, example_record: dict
) -> None:
    if not model.schema.numeric:
        pytest.skip("the schema has no numeric column")
    name = model.schema.numeric[0]
    example_record[name] = "not-a-number"
    with pytest.raises(RequestError, match=re.escape(name)) as caught:
        predict(model, trained, example_record)
    assert caught.value.status == 422


def test_missing_column_names_the_column(
    model: LoadedModel, trained: Settings, example_record: dict
) -> None:
    name = model.schema.features[-1]
    del example_record[name]
    with pytest.raises(RequestError, match=re.escape(name)) as caught:
        predict(model, trained, example_record)
    assert caught.value.status == 422


def test_empty_list_is_refused(model: LoadedModel, trained: Settings) -> None:
    with pytest.raises(RequestError, match="empty") as caught:
        predict(model, trained, [])
    assert caught.value.status == 400


def test_batch_above_the_limit_is_refused(
    model: LoadedModel, trained: Settings, example_record: dict
) -> None:
    small = trained.serving.model_copy(update={"max_batch_size": 2})
    with pytest.raises(RequestError, match="at most 2") as caught:
        parse_records([example_record] * 3, model.schema, small)
    assert caught.value.status == 413


def test_request_rows_are_typed_exactly_as_in_training(
    model: LoadedModel, trained: Settings, example_record: dict
) -> None:
    """The server's fast path gives the same frame as the schema's generic coercion."""
    records = [example_record, dict.fromkeys(example_record)]
    for name in model.schema.categorical:
        records.append({**example_record, name: 3})  # an integer label becomes "3"
    served = typed_frame(parse_records(records, model.schema, trained.serving), model.schema)
    generic = model.schema.coerce_features(pd.DataFrame.from_records(records))
    pd.testing.assert_frame_equal(served, generic)
