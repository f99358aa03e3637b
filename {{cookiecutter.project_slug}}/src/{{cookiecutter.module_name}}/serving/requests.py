"""Pydantic models of a prediction request, built from the feature schema.

They are the one source for both request validation and ``/openapi.json``: a record has
one field per feature column, numbers for ``schema.numeric`` (within ``schema.ranges``
where given) and labels for ``schema.categorical``, each nullable (a missing value) but
always present.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    TypeAdapter,
    create_model,
)
from typing_extensions import TypedDict

from {{ cookiecutter.module_name }}.schema import FeatureSchema

# Strict: "3" is not a number and true is neither a number nor a label.
Number = Annotated[float | None, Field(strict=True, allow_inf_nan=False)]


# 2, 2.0 and "2" name one level (schema.category_label), as JSON writers differ on 2.0:
# a whole-number float is a label (multipleOf 1 in /openapi.json), 2.5 is not.
WholeNumber = Annotated[
    float, Field(strict=True, allow_inf_nan=False, multiple_of=1), AfterValidator(int)
]
Label = StrictStr | StrictInt | WholeNumber | None
ExtraPolicy = Literal["ignore", "reject"]


def record_model(schema: FeatureSchema, extra_columns: ExtraPolicy) -> type[BaseModel]:
    """The model of one record (``/openapi.json``): fields aliased to the column names."""
    return _record_model(schema.model_dump_json(), extra_columns)


def records_adapter(schema: FeatureSchema, extra_columns: ExtraPolicy) -> TypeAdapter[Any]:
    """A validator for a list of records (built once per schema and policy).

    It checks each record against the same fields as ``record_model``, with the same
    errors, but gives plain dicts keyed by column: making a model instance per record
    was half of a 100-record request's validation time.
    """
    return _records_adapter(schema.model_dump_json(), extra_columns)


def _columns(schema: FeatureSchema) -> list[tuple[str, Any, dict[str, Any]]]:
    """Each column's name, type and Field options: a number or a label, nullable, and
    within ``schema.ranges`` where given (training refuses values outside them)."""
    columns = []
    for name in schema.features:
        kind = "a number" if name in schema.numeric else "a string or an integer label"
        annotation = Number if name in schema.numeric else Label
        low, high = schema.ranges.get(name, (None, None))
        if low is not None:
            kind = f"{kind} in [{low}, {high}]"
        options = {"title": name, "description": f"{kind}, or null when missing"}
        columns.append((name, annotation, {**options, "ge": low, "le": high}))
    return columns


def _config(extra_columns: ExtraPolicy) -> ConfigDict:
    return ConfigDict(extra="forbid" if extra_columns == "reject" else "ignore", title="Record")


@lru_cache(maxsize=8)
def _record_model(schema_json: str, extra_columns: ExtraPolicy) -> type[BaseModel]:
    schema = FeatureSchema.model_validate_json(schema_json)
    # Column names need not be identifiers ("Body Mass (g)"): fields are f0, f1... with
    # the column name as alias, which is what JSON bodies and error locations use.
    fields = {
        f"f{index}": (annotation, Field(alias=name, **options))
        for index, (name, annotation, options) in enumerate(_columns(schema))
    }
    config = ConfigDict(_config(extra_columns), frozen=True)
    return create_model("Record", __config__=config, **fields)


@lru_cache(maxsize=8)
def _records_adapter(schema_json: str, extra_columns: ExtraPolicy) -> TypeAdapter[Any]:
    schema = FeatureSchema.model_validate_json(schema_json)
    fields = {
        name: Annotated[annotation, Field(**options)]
        for name, annotation, options in _columns(schema)
    }
    record = TypedDict("Record", fields)  # type: ignore[misc]  # names need not be identifiers
    record.__pydantic_config__ = _config(extra_columns)  # type: ignore[attr-defined]
    return TypeAdapter(list[record])  # type: ignore[valid-type]
