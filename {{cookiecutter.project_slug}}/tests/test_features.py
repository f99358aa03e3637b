"""The preprocessor built from the schema imputes, scales, encodes and drops the rest."""

from __future__ import annotations

import numpy as np
import pandas as pd

from {{ cookiecutter.module_name }}.config import ModelSettings
from {{ cookiecutter.module_name }}.schema import FeatureSchema
from {{ cookiecutter.module_name }}.training.features import build_preprocessor

SCHEMA = FeatureSchema(target="y", numeric=("a",), categorical=("c",))
OPTIONS = ModelSettings(estimator="sklearn.linear_model.LogisticRegression")
TRAIN = SCHEMA.coerce_features(
    pd.DataFrame({"a": [1.0, 2.0, 3.0, None], "c": ["x", "y", None, "x"], "junk": list("abcd")})
)


def test_output_has_no_missing_values() -> None:
    out = build_preprocessor(SCHEMA, OPTIONS).fit_transform(TRAIN)
    assert not np.isnan(out).any()


def test_numeric_columns_are_scaled() -> None:
    out = build_preprocessor(SCHEMA, OPTIONS).fit_transform(TRAIN)
    assert abs(out[:, 0].mean()) < 1e-9


def test_columns_outside_the_schema_are_dropped() -> None:
    names = list(build_preprocessor(SCHEMA, OPTIONS).fit(TRAIN).get_feature_names_out())
    assert not any("junk" in name for name in names)
    assert "categorical__c___missing__" in names


def test_unseen_category_encodes_as_all_zeros() -> None:
    preprocessor = build_preprocessor(SCHEMA, OPTIONS).fit(TRAIN)
    row = SCHEMA.coerce_features(pd.DataFrame({"a": [1.0], "c": ["never-seen"]}))
    encoded = preprocessor.transform(row)[0, 1:]
    assert encoded.sum() == 0


def test_scaling_can_be_switched_off() -> None:
    options = OPTIONS.model_copy(update={"scale_numeric": False})
    out = build_preprocessor(SCHEMA, options).fit_transform(TRAIN)
    assert out[0, 0] == 1.0
