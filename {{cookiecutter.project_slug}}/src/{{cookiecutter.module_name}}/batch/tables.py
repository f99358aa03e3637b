"""The output files' columns and types, and a chunk's frames as Arrow tables of them.

Both are fixed before the first chunk is read, so every chunk's types are identical (an
id column with gaps in one chunk only stays an integer) and an input without rows still
gets a header (CSV) or a schema (Parquet).
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from {{ cookiecutter.module_name }}.batch.predictions import probability_columns
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel


def output_schema(model: LoadedModel, id_types: dict[str, pa.DataType]) -> pa.Schema:
    """Columns and types of the predictions file: ``row`` (1 is the first data row), the
    id columns, ``prediction`` (a label, or a regressor's number), one
    ``probability_<class>`` per class (none for a regressor), ``model_version``."""
    return pa.schema(
        [
            ("row", pa.int64()),
            *id_types.items(),
            ("prediction", pa.float64() if model.schema.is_regression else pa.string()),
            *[(name, pa.float64()) for name in probability_columns(model)],
            ("model_version", pa.string()),
        ]
    )


def errors_schema(id_types: dict[str, pa.DataType]) -> pa.Schema:
    """Columns and types of the errors file: ``row``, the id columns, ``error``."""
    return pa.schema([("row", pa.int64()), *id_types.items(), ("error", pa.string())])


def to_table(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """``frame`` as an Arrow table of ``schema``, column by column, without threads.

    ``pa.Table.from_pandas`` starts a thread pool per call and turns a categorical column
    into Python strings one row at a time; the predicted labels and the model version
    are categoricals, so taking their codes from the category names is many times faster
    (measured in benchmarks/batch.py).
    """
    columns = []
    for field in schema:
        column = frame[field.name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            names = pa.array(column.cat.categories.astype(str), type=field.type)
            codes = column.cat.codes.to_numpy()
            columns.append(names.take(pa.array(codes, mask=codes < 0)))
        else:
            columns.append(pa.array(column, type=field.type, from_pandas=True))
    return pa.Table.from_arrays(columns, schema=schema)


def is_text_type(kind: pa.DataType) -> bool:
    """Arrow types that hold text: worth a dictionary when a column repeats a few labels."""
    return (
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )
