"""Turn the schema into a scikit-learn preprocessor, so features live inside the model."""

from __future__ import annotations

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from {{ cookiecutter.module_name }}.config import ModelSettings
from {{ cookiecutter.module_name }}.schema import FeatureSchema


def build_preprocessor(schema: FeatureSchema, options: ModelSettings) -> ColumnTransformer:
    """Impute and scale numeric columns; one-hot encode categorical ones.

    Missing categorical values arrive already labelled ``MISSING_CATEGORY`` by
    ``FeatureSchema.coerce_features`` (the one place that does it, for every path), so
    they encode as a level of their own. Categories never seen in training encode as all
    zeros instead of failing, so a new level in production degrades gracefully. Columns
    outside the schema are dropped.
    """
    transformers = []
    if schema.numeric:
        numeric_steps = [("impute", SimpleImputer(strategy=options.numeric_imputer))]
        if options.scale_numeric:
            numeric_steps.append(("scale", StandardScaler()))
        transformers.append(("numeric", Pipeline(numeric_steps), list(schema.numeric)))
    if schema.categorical:
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        transformers.append(("categorical", encoder, list(schema.categorical)))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=True)
