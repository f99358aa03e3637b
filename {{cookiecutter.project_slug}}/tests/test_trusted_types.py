"""A model file cannot run code: the loader trusts exactly the types this project's pipelines
hold (storage.BUILDER_TYPES) plus serving.trusted_types, names never prefixes, and no function.

Each known gadget is planted in a temporary model store, exactly as an attacker with write
access to the store would plant it (its metadata's sha256 matches), and must be refused with
the offending name and no side effect; every estimator the builder is known to produce must
still load. Data is synthetic, built from the configured schema's column names.
"""

from __future__ import annotations

import contextlib
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from numpy.testing._private.utils import runstring
from sklearn.base import clone, is_regressor
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.loader import ModelLoadError
from {{ cookiecutter.module_name }}.prediction.store import (
    ModelStore,
    Pointer,
)
from {{ cookiecutter.module_name }}.schema import FeatureSchema
from {{ cookiecutter.module_name }}.serving.app import create_app
from {{ cookiecutter.module_name }}.storage import (
    BUILDER_TYPES,
    UntrustedArtifactError,
    load_pipeline,
    sha256_file,
    write_json,
)
from {{ cookiecutter.module_name }}.training.train import build_pipeline

PLANTED = "v9.9.9"
RUNSTRING = "numpy.testing._private.utils.runstring"

# Estimators the builder must keep loadable: the configured one (params.yaml) and the usual
# scikit-learn classifiers, each with small settings so the test stays fast.
ESTIMATORS = {
    "configured": None,
    "LogisticRegression": ("sklearn.linear_model.LogisticRegression", {}),
    "RandomForest": ("sklearn.ensemble.RandomForestClassifier", {"n_estimators": 5}),
    "ExtraTrees": ("sklearn.ensemble.ExtraTreesClassifier", {"n_estimators": 5}),
    "DecisionTree": ("sklearn.tree.DecisionTreeClassifier", {}),
    "GradientBoosting": ("sklearn.ensemble.GradientBoostingClassifier", {"n_estimators": 5}),
    "HistGradientBoosting": ("sklearn.ensemble.HistGradientBoostingClassifier", {"max_iter": 5}),
    "AdaBoost": ("sklearn.ensemble.AdaBoostClassifier", {"n_estimators": 5}),
    "MLP-adam": ("sklearn.neural_network.MLPClassifier", {"max_iter": 300}),
    "MLP-sgd": ("sklearn.neural_network.MLPClassifier", {"solver": "sgd", "max_iter": 300}),
    "SVC": ("sklearn.svm.SVC", {}),
    "GaussianNB": ("sklearn.naive_bayes.GaussianNB", {}),
    # Regressors: fitted on a numeric target.
    "Ridge": ("sklearn.linear_model.Ridge", {}),
    "ElasticNet": ("sklearn.linear_model.ElasticNet", {"alpha": 0.1}),
    "RandomForestRegressor": ("sklearn.ensemble.RandomForestRegressor", {"n_estimators": 5}),
    "GradientBoostingRegressor": (
        "sklearn.ensemble.GradientBoostingRegressor",
        {"n_estimators": 5},
    ),
    "HistGradientBoostingRegressor": (
        "sklearn.ensemble.HistGradientBoostingRegressor",
        {"max_iter": 5},
    ),
}


def synthetic_frame(settings: Settings, rows: int = 90) -> tuple[pd.DataFrame, np.ndarray]:
    """Features with the configured columns (random values) and a three-class target."""
    schema = settings.feature_schema
    random = np.random.default_rng(0)
    frame = pd.DataFrame({name: random.normal(size=rows) for name in schema.numeric})
    for name in schema.categorical:
        frame[name] = random.choice(["a", "b", "c"], size=rows)
    return frame, random.choice(["x", "y", "z"], size=rows)


def with_estimator(settings: Settings, name: str) -> Settings:
    """The settings with ``model.estimator`` and ``model.params`` of ESTIMATORS[name]."""
    if ESTIMATORS[name] is None:
        return settings
    estimator, params = ESTIMATORS[name]
    model = settings.model.model_copy(update={"estimator": estimator, "params": params})
    return settings.model_copy(update={"model": model})


def runstring_chain(marker: Path) -> Pipeline:
    """The gadget: numpy.full_like makes an array of code, numpy.take picks one string, and
    runstring exec()s it on the first prediction; the code writes ``marker``."""
    code = f"open({str(marker)!r}, 'w').write('ran')"
    steps = [
        FunctionTransformer(np.full_like, kw_args={"fill_value": code, "dtype": "O"}),
        FunctionTransformer(np.take, kw_args={"indices": 0}),
        FunctionTransformer(runstring, kw_args={"dict": {}}),
    ]
    for step in steps:  # one by one: fitting them as a pipeline would run the chain here
        step.fit(np.zeros((1, 1)))
    features = Pipeline([(f"step{i}", step) for i, step in enumerate(steps)])
    model = DummyClassifier().fit(np.zeros((2, 1)), ["x", "y"])
    return Pipeline([("features", features), ("model", model)])


def one_reference(function: Any) -> Pipeline:
    """A pipeline whose only odd part is a FunctionTransformer naming ``function``."""
    model = DummyClassifier().fit(np.zeros((2, 1)), ["x", "y"])
    return Pipeline([("features", FunctionTransformer(function)), ("model", model)])


class PickleGadget:
    """Unpickled, it writes its marker: what a pickle disguised as model.skops would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def plant(store_root: Path, artifact: Path, model_metadata: dict[str, Any]) -> ModelStore:
    """Put ``artifact`` into a fresh store as version PLANTED, with metadata whose sha256
    matches (as an attacker who can write the store would write it), and point prod at it."""
    store = ModelStore(store_root)
    folder = store.version_dir(PLANTED)
    folder.mkdir(parents=True)
    target = folder / "model.skops"
    target.write_bytes(artifact.read_bytes())
    metadata = {key: value for key, value in model_metadata.items() if key != "onnx"}
    metadata["version"] = PLANTED
    metadata["artifact"] = {"file": target.name, "sha256": sha256_file(target)}
    write_json(store.metadata_path(PLANTED), metadata)
    write_json(store.pointer_path, Pointer(PLANTED).to_json())
    return store


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "marker"


@pytest.fixture
def model_metadata(model: Any) -> dict[str, Any]:
    """A genuine model's metadata, to disguise planted artifacts with."""
    return dict(model.metadata)


def test_the_runstring_chain_is_a_live_gadget(marker: Path, tmp_path: Path) -> None:
    """The control: loaded by trusting whatever skops reports, the chain runs its code."""
    path = tmp_path / "gadget.skops"
    sio.dump(runstring_chain(marker), path)
    pipeline = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    with contextlib.suppress(Exception):  # the classifier then fails on exec's None
        pipeline.predict(pd.DataFrame({"a": [1.0]}))
    assert marker.read_text() == "ran"


@pytest.mark.parametrize(
    ("gadget", "named"),
    [
        ("runstring chain", RUNSTRING),
        ("numpy.take", "numpy.take"),
        ("numpy.full_like", "numpy.full_like"),
        ("runstring alone", RUNSTRING),
    ],
)
def test_a_planted_function_reference_is_refused_naming_it(
    gadget: str, named: str, marker: Path, tmp_path: Path, model_metadata: dict, trained: Settings
) -> None:
    built = {
        "runstring chain": lambda: runstring_chain(marker),
        "numpy.take": lambda: one_reference(np.take),
        "numpy.full_like": lambda: one_reference(np.full_like),
        "runstring alone": lambda: one_reference(runstring),
    }[gadget]()
    artifact = tmp_path / "gadget.skops"
    sio.dump(built, artifact)
    store = plant(tmp_path / "store", artifact, model_metadata)
    with pytest.raises(ModelLoadError, match="does not trust") as refused:
        store.load_version(PLANTED, trained.serving.trusted_types, runtime="sklearn")
    assert named in str(refused.value)
    assert "serving.trusted_types" in str(refused.value)
    assert not marker.exists()


def test_a_server_pointed_at_a_planted_gadget_is_not_ready_and_runs_nothing(
    marker: Path, tmp_path: Path, model_metadata: dict, trained: Settings
) -> None:
    artifact = tmp_path / "gadget.skops"
    sio.dump(runstring_chain(marker), artifact)
    plant(tmp_path / "store", artifact, model_metadata)
    client = create_app(trained.with_paths(registry=tmp_path / "store")).test_client()
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert RUNSTRING in ready.get_json()["detail"]
    record = dict(model_metadata["input_example"])
    assert client.post("/predict", json=record).status_code == 503
    assert not marker.exists()


def test_a_pickle_disguised_as_skops_is_refused_unopened(
    marker: Path, tmp_path: Path, model_metadata: dict, trained: Settings
) -> None:
    artifact = tmp_path / "model.skops"
    artifact.write_bytes(pickle.dumps(PickleGadget(marker)))
    store = plant(tmp_path / "store", artifact, model_metadata)
    with pytest.raises(ModelLoadError, match="is not a skops archive"):
        store.load_version(PLANTED, trained.serving.trusted_types, runtime="sklearn")
    assert not marker.exists()


@pytest.mark.parametrize("estimator", list(ESTIMATORS))
def test_the_builders_pipelines_hold_only_trusted_types(
    estimator: str, settings: Settings, tmp_path: Path
) -> None:
    """Every estimator the project knows, built by its own builder, loads with no extra trust."""
    features, labels = synthetic_frame(settings)
    pipeline = clone(build_pipeline(with_estimator(settings, estimator)))
    # A regressor learns a number: the labels' positions stand in for one.
    target = np.unique(labels, return_inverse=True)[1] * 1.5 if is_regressor(pipeline) else labels
    with warnings.catch_warnings():  # a few iterations on noise: convergence warnings
        warnings.simplefilter("ignore")
        pipeline.fit(features, target)
    path = tmp_path / "model.skops"
    sio.dump(pipeline, path)
    assert set(sio.get_untrusted_types(file=path)) <= BUILDER_TYPES
    loaded = load_pipeline(path)
    assert (loaded.predict(features) == pipeline.predict(features)).all()


def test_a_type_outside_the_list_loads_once_named_in_trusted_types(
    settings: Settings, tmp_path: Path
) -> None:
    """The way out for another estimator: its types, named exactly, in serving.trusted_types."""
    # A few columns: with more than 15, k-neighbours searches by brute force and keeps no
    # tree, so whether it needs an extra type would depend on the dataset.
    few = FeatureSchema(target="y", numeric=("a", "b", "c"), categorical=("d",))
    settings = settings.model_copy(update={"feature_schema": few})
    features, target = synthetic_frame(settings)
    model = settings.model.model_copy(
        update={"estimator": "sklearn.neighbors.KNeighborsClassifier", "params": {}}
    )
    pipeline = build_pipeline(settings.model_copy(update={"model": model})).fit(features, target)
    path = tmp_path / "model.skops"
    sio.dump(pipeline, path)
    extra = tuple(sorted(set(sio.get_untrusted_types(file=path)) - BUILDER_TYPES))
    assert extra, "KNeighborsClassifier no longer needs a type outside BUILDER_TYPES"
    with pytest.raises(UntrustedArtifactError, match=r"serving\.trusted_types") as refused:
        load_pipeline(path)
    assert all(name in str(refused.value) for name in extra)
    assert (load_pipeline(path, extra).predict(features) == pipeline.predict(features)).all()
