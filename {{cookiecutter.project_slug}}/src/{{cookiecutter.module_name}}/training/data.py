"""Load the raw data, validate it against the schema, clean it and split it.

These are the ``prepare`` and ``split`` stages. Whatever params.yaml points at (a CSV or
Parquet file, or a folder of them) goes through exactly this path, the shipped dataset
included.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from {{ cookiecutter.module_name }}.config import (
    DataSettings,
    Settings,
    SplitSettings,
)
from {{ cookiecutter.module_name }}.schema import (
    FeatureSchema,
    SchemaError,
    category_labels,
)
from {{ cookiecutter.module_name }}.scoring import (
    CLASSIFICATION,
    REGRESSION,
)
from {{ cookiecutter.module_name }}.storage import atomic_write
from {{ cookiecutter.module_name }}.training.task import (
    training_task,
)

log = logging.getLogger(__name__)


class DataError(ValueError):
    """The data cannot be used as it is; the message says what is wrong and where."""


@dataclass(frozen=True)
class CleanReport:
    """What cleaning did, for the log and for tests."""

    rows_read: int
    rows_kept: int
    rows_without_target: int


def read_csv(path: Path, schema: FeatureSchema, options: DataSettings) -> pd.DataFrame:
    """Read a CSV, keeping categorical and target columns as text so "01" stays "01"."""
    if not Path(path).is_file():
        raise DataError(
            f"data file {path} not found: check paths in params.yaml "
            "(or run `make pull` if the data is stored in a DVC remote)"
        )
    text_columns = dict.fromkeys([*schema.categorical, schema.target], "string")
    try:
        return pd.read_csv(
            path,
            sep=options.separator,
            na_values=list(options.na_values),
            dtype=text_columns,
            low_memory=False,
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise DataError(f"could not read {path} as CSV: {error}") from None


# The raw data's formats, by file suffix; a folder holds any mix of them.
RAW_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def read_raw(path: Path, schema: FeatureSchema, options: DataSettings) -> pd.DataFrame:
    """Read the raw data: one CSV or Parquet file, or every such file in a folder (sorted
    by path, hidden files skipped), as one frame."""
    files = raw_files(path)
    if len(files) == 1:
        return _read_file(files[0], schema, options)
    return pd.concat([_read_file(file, schema, options) for file in files], ignore_index=True)


def raw_files(path: Path) -> list[Path]:
    """``path`` itself, or for a folder its CSV and Parquet files (sorted, hidden skipped)."""
    path = Path(path)
    if not path.is_dir():
        return [path]
    files = sorted(
        found
        for found in path.rglob("*")
        if found.is_file()
        and found.suffix.lower() in RAW_FORMATS
        and not any(part.startswith(".") for part in found.relative_to(path).parts)
    )
    if not files:
        raise DataError(f"folder {path} holds no {' or '.join(RAW_FORMATS)} file")
    return files


def _read_file(path: Path, schema: FeatureSchema, options: DataSettings) -> pd.DataFrame:
    """One raw file, read by its suffix (anything but Parquet is read as CSV)."""
    if RAW_FORMATS.get(Path(path).suffix.lower()) != "parquet":
        return read_csv(path, schema, options)
    if not Path(path).is_file():
        raise DataError(
            f"data file {path} not found: check paths in params.yaml "
            "(or run `make pull` if the data is stored in a DVC remote)"
        )
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as error:  # pyarrow's errors derive from these
        raise DataError(f"could not read {path} as Parquet: {error}") from None


def clean(
    frame: pd.DataFrame, schema: FeatureSchema, options: DataSettings
) -> tuple[pd.DataFrame, CleanReport]:
    """Validate raw rows and keep only schema columns and rows with a target.

    Raises DataError for problems a person must fix (absent columns, text in a numeric
    column, values outside ``schema.ranges``, too few rows or a single class).
    """
    absent = [name for name in [*schema.features, schema.target] if name not in frame.columns]
    if absent:
        raise DataError(
            f"columns {absent} are in params.yaml's schema but not in the data; "
            f"the data has {list(frame.columns)}"
        )
    try:
        features = schema.coerce_features(frame)
    except SchemaError as error:
        raise DataError(str(error)) from None
    _check_ranges(features, schema)
    target = frame[schema.target]
    has_target = target.notna().to_numpy()
    cleaned = features[has_target].copy()
    cleaned[schema.target] = category_labels(target[has_target]).to_numpy()  # 1, 1.0: "1"
    cleaned = cleaned.reset_index(drop=True)
    report = CleanReport(len(frame), len(cleaned), int((~has_target).sum()))
    if report.rows_kept < options.min_rows:
        raise DataError(
            f"only {report.rows_kept} rows with a target remain (data.min_rows is "
            f"{options.min_rows}); {report.rows_without_target} rows had no target"
        )
    counts = cleaned[schema.target].value_counts()
    if len(counts) < 2:
        raise DataError(f"target {schema.target!r} has a single class {list(counts.index)}")
    return cleaned, report


def _check_ranges(features: pd.DataFrame, schema: FeatureSchema) -> None:
    for name, (low, high) in schema.ranges.items():
        column = features[name]
        outside = column[(column < low) | (column > high)]
        if len(outside):
            raise DataError(
                f"{len(outside)} value(s) of {name!r} fall outside schema.ranges "
                f"[{low}, {high}], e.g. {outside.iloc[:3].tolist()}: fix the data or the range"
            )


def split(
    frame: pd.DataFrame, target: str, options: SplitSettings, *, classes: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into train and test, stratified by the target when asked and possible
    (``classes``: a classifier's target; a regression target has no classes to keep)."""
    stratify = frame[target] if options.stratify and classes else None
    if stratify is not None and frame[target].value_counts().min() < 2:
        log.warning("a target class has a single row: splitting without stratification")
        stratify = None
    train, test = train_test_split(
        frame, test_size=options.test_size, random_state=options.random_state, stratify=stratify
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a CSV atomically."""
    atomic_write(path, lambda temporary: frame.to_csv(temporary, index=False))


def run_prepare(settings: Settings) -> CleanReport:
    """Stage ``prepare``: raw CSV/Parquet -> validated, cleaned CSV."""
    schema = settings.feature_schema
    raw = read_raw(settings.paths.raw_data, schema, settings.data)
    cleaned, report = clean(raw, schema, settings.data)
    write_csv(cleaned, settings.paths.clean_data)
    log.info(
        "prepare: %d rows read, %d kept, %d without target",
        report.rows_read,
        report.rows_kept,
        report.rows_without_target,
    )
    return report


def run_split(settings: Settings) -> tuple[int, int]:
    """Stage ``split``: cleaned CSV -> train and test CSVs."""
    schema = settings.feature_schema
    cleaned = read_csv(settings.paths.clean_data, schema, settings.data)
    classes = training_task(settings) == CLASSIFICATION
    train, test = split(cleaned, schema.target, settings.split, classes=classes)
    write_csv(train, settings.paths.train_data)
    write_csv(test, settings.paths.test_data)
    log.info("split: %d train rows, %d test rows", len(train), len(test))
    return len(train), len(test)


def load_split(path: Path, settings: Settings) -> tuple[pd.DataFrame, pd.Series]:
    """Read a split written by ``run_split`` as (typed features, target)."""
    schema = settings.feature_schema
    frame = read_csv(path, schema, settings.data)
    if schema.target not in frame.columns:
        raise DataError(
            f"{path} has no target column {schema.target!r} (schema.target): it was split "
            "with other params; rebuild it with `make train` (dvc repro)"
        )
    try:
        return schema.coerce_features(frame), frame[schema.target].astype(str)
    except SchemaError as error:
        raise DataError(f"{path}: {error}; rebuild it with `make train` (dvc repro)") from None


def target_values(target: pd.Series, task: str) -> pd.Series:
    """The target as a model of ``task`` learns it: labels (text), or numbers to regress.

    Raises DataError naming a value that is not a number for a regression target.
    """
    if task != REGRESSION:
        return target.astype(str)
    numbers = pd.to_numeric(target, errors="coerce")
    text = target[numbers.isna() & target.notna()]
    if len(text):
        raise DataError(
            f"the regression target holds text (e.g. {text.iloc[0]!r}): choose a classifier "
            "for model.estimator, or a numeric schema.target"
        )
    return numbers.astype("float64")
