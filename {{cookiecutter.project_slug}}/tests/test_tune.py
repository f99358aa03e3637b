"""Hyper-parameter search (the ``tune`` stage) on synthetic data in a temporary folder.

The data, the estimator and its search space are built here, so these tests hold whatever
dataset and estimator params.yaml names.
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from {{ cookiecutter.module_name }}.config import (
    ENV_PREFIX,
    ModelSettings,
    SearchDimension,
    Settings,
    TuneSettings,
    load_settings,
)
from {{ cookiecutter.module_name }}.schema import FeatureSchema
from {{ cookiecutter.module_name }}.storage import read_json
from {{ cookiecutter.module_name }}.training.train import TrainingError, run_train
from {{ cookiecutter.module_name }}.training.tune import (
    TuningError,
    run_tune,
    study_name,
)
from {{ cookiecutter.module_name }}.training.tune_steps import log_trial_steps

SPACE = {
    "C": SearchDimension(type="float", low=0.001, high=100.0, log=True),
    "fit_intercept": SearchDimension(type="categorical", choices=(True, False)),
}


def synthetic_settings(settings: Settings, folder: Path, **tune: Any) -> Settings:
    """Settings for 120 synthetic rows (two numeric columns, one categorical, a 0/1 target)
    in ``folder``, a logistic regression and a small search of ``SPACE``."""
    generator = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "a": generator.normal(size=120),
            "b": generator.normal(size=120),
            "c": generator.choice(["x", "y"], size=120),
        }
    )
    frame["y"] = np.where(frame["a"] + 0.5 * generator.normal(size=120) > 0, "yes", "no")
    frame.to_csv(folder / "train.csv", index=False)
    options = {"trials": 4, "cv_folds": 2, "seed": 7, "space": SPACE, "metric": None} | tune
    return settings.model_copy(
        update={
            "feature_schema": FeatureSchema(target="y", numeric=("a", "b"), categorical=("c",)),
            "model": ModelSettings(
                estimator="sklearn.linear_model.LogisticRegression", params={"max_iter": 500}
            ),
            "tune": TuneSettings(**options),
            # The synthetic target is a class: the project's own metric may be a regression one.
            "evaluate": settings.evaluate.model_copy(
                update={"metric": "f1_macro", "baseline_strategy": None}
            ),
        }
    ).with_paths(
        train_data=folder / "train.csv",
        model=folder / "model.skops",
        tune_study=folder / "study.db",
        tune_best=folder / "best.json",
        tune_trials=folder / "trials.csv",
        tune_live=folder / "live",
    )


def test_a_tiny_search_finishes_and_the_same_seed_gives_the_same_trials(
    settings: Settings, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    result = run_tune(synthetic_settings(settings, first))
    assert result["enabled"]
    assert result["trials"] == 4
    assert set(result["params"]) == set(SPACE)
    assert (first / "study.db").is_file()  # no tune.storage: the local SQLite file
    run_tune(synthetic_settings(settings, second))  # a fresh study in another database
    assert read_json(first / "best.json") == read_json(second / "best.json")
    assert (first / "trials.csv").read_bytes() == (second / "trials.csv").read_bytes()
    assert folder_bytes(first / "live") == folder_bytes(second / "live")  # no timestamps
    trials = pd.read_csv(first / "trials.csv")
    assert list(trials["trial"]) == [0, 1, 2, 3]
    assert trials["best"].iloc[-1] == pytest.approx(result["best_value"], abs=1e-6)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by its relative path, with its content."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_each_trial_is_one_dvclive_step_with_the_values_of_trials_csv(
    settings: Settings, tmp_path: Path
) -> None:
    tuned = synthetic_settings(settings, tmp_path, trials=3)
    run_tune(tuned)
    trials = pd.read_csv(tmp_path / "trials.csv")
    steps = tmp_path / "live" / "plots" / "metrics"
    assert sorted(path.name for path in steps.rglob("*.tsv")) == [
        "C.tsv",
        "best.tsv",
        "f1_macro.tsv",
        "fit_intercept.tsv",
    ]
    values = pd.read_csv(steps / "f1_macro.tsv", sep="\t")
    assert list(values.columns) == ["step", "f1_macro"]  # no timestamp column
    assert list(values["step"]) == list(trials["trial"])
    assert list(values["f1_macro"]) == pytest.approx(list(trials["value"]), abs=1e-9)
    param = pd.read_csv(steps / "params" / "C.tsv", sep="\t")
    assert list(param["C"]) == pytest.approx(list(trials["params.C"]), abs=1e-9)
    summary = read_json(tmp_path / "live" / "metrics.json")
    assert summary["step"] == trials["trial"].iloc[-1]
    assert summary["best"] == pytest.approx(trials["best"].iloc[-1], abs=1e-9)
    assert not list((tmp_path / "live").glob("report.*"))  # no report, nothing to diff


def test_steps_are_written_in_a_repository_without_a_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True)  # a fresh project
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_STUDIO_TOKEN", "not-a-token")  # Studio stays off all the same
    table = pd.DataFrame(
        {"trial": [0, 1], "state": ["complete", "fail"], "value": [0.5, None], "best": [0.5, 0.5]}
    )
    log_trial_steps(table, "r2", tmp_path / "live")
    values = pd.read_csv(tmp_path / "live" / "plots" / "metrics" / "r2.tsv", sep="\t")
    assert list(values["step"]) == [0]  # the failed trial has no value
    assert read_json(tmp_path / "live" / "metrics.json") == {"r2": 0.5, "best": 0.5, "step": 1}
    assert sorted(path.name for path in tmp_path.iterdir()) == [".git", "live"]  # no .dvc


def test_the_trained_model_uses_the_best_params_and_keeps_the_others(
    settings: Settings, tmp_path: Path
) -> None:
    tuned_settings = synthetic_settings(settings, tmp_path)
    best = run_tune(tuned_settings)["params"]
    model = run_train(tuned_settings).named_steps["model"].get_params()
    assert {name: model[name] for name in best} == best
    assert model["max_iter"] == 500  # model.params outside the search space stay as set


def test_a_second_run_resumes_the_study_from_the_storage_url(
    settings: Settings, tmp_path: Path
) -> None:
    """tune.storage, set as the docs say (an environment variable), holds the study, and a
    second run (here from another machine's project) goes on with its trials.

    A SQLite URL in a temporary folder stands in for the PostgreSQL database several
    machines would share: both are a SQLAlchemy URL that Optuna's storage opens alike.
    """
    shared = tmp_path / "shared"
    shared.mkdir()
    url = f"sqlite:///{shared / 'optuna.db'}"
    variable = {f"{ENV_PREFIX}__TUNE__STORAGE": url}
    storage = load_settings(settings.root / "params.yaml", environ=variable).tune.storage
    assert storage == url
    first, second = tmp_path / "first", tmp_path / "second"  # two machines' projects
    first.mkdir()
    second.mkdir()
    run_tune(synthetic_settings(settings, first, trials=2, storage=storage))
    result = run_tune(synthetic_settings(settings, second, trials=3, storage=storage))
    assert result["trials"] == 3  # the second machine went on with the first one's 2 trials
    before, after = pd.read_csv(first / "trials.csv"), pd.read_csv(second / "trials.csv")
    pd.testing.assert_frame_equal(after.iloc[:2], before)  # kept, not rerun
    assert (shared / "optuna.db").is_file()
    assert not (first / "study.db").exists()
    assert not (second / "study.db").exists()
    # Where the study is kept is not part of its name: a copy of it resumes anywhere.
    assert study_name(synthetic_settings(settings, first)) == result["study"]


@pytest.mark.skipif(
    importlib.util.find_spec("psycopg") is not None,
    reason="psycopg is installed: the URL would reach for a server instead",
)
def test_a_database_without_its_driver_is_named_with_the_package_to_install(
    settings: Settings, tmp_path: Path
) -> None:
    url = "postgresql+psycopg://optuna:s3cret@db.invalid/optuna"
    with pytest.raises(TuningError, match=r"psycopg\[binary\]") as raised:
        run_tune(synthetic_settings(settings, tmp_path, storage=url))
    assert "s3cret" not in str(raised.value)
    assert "optuna:***@db.invalid" in str(raised.value)


def test_tuning_off_writes_an_empty_result_and_train_uses_model_params(
    settings: Settings, tmp_path: Path
) -> None:
    off = synthetic_settings(settings, tmp_path, trials=0)
    assert run_tune(off) == {"enabled": False, "params": {}}
    assert not (tmp_path / "study.db").exists()
    steps = tmp_path / "live" / "plots" / "metrics"
    assert [path.name for path in steps.iterdir()] == ["best.tsv"]  # header only, no step
    assert pd.read_csv(steps / "best.tsv", sep="\t").empty
    model = run_train(off).named_steps["model"].get_params()
    assert (model["C"], model["max_iter"]) == (1.0, 500)


def test_a_regressor_is_tuned_on_a_regression_metric(settings: Settings, tmp_path: Path) -> None:
    """An error metric is minimised, whichever task the project's own data has."""
    classified = synthetic_settings(settings, tmp_path, metric="mean_absolute_error")
    frame = pd.read_csv(tmp_path / "train.csv")
    frame["y"] = 3 * frame["a"] - frame["b"] + np.random.default_rng(1).normal(size=len(frame))
    frame.to_csv(tmp_path / "train.csv", index=False)
    regression = classified.model_copy(
        update={
            "model": ModelSettings(estimator="sklearn.linear_model.Ridge", params={}),
            "tune": classified.tune.model_copy(
                update={"space": {"alpha": SearchDimension(type="float", low=0.01, high=10.0)}}
            ),
            "evaluate": settings.evaluate.model_copy(
                update={"metric": "r2", "baseline_strategy": None}
            ),
        }
    )
    result = run_tune(regression)
    assert (result["metric"], result["direction"]) == ("mean_absolute_error", "minimize")
    trials = pd.read_csv(tmp_path / "trials.csv")
    assert result["best_value"] == pytest.approx(trials["value"].min(), abs=1e-6)
    with pytest.raises(TuningError, match="f1_macro"):
        run_tune(
            regression.model_copy(
                update={"tune": regression.tune.model_copy(update={"metric": "f1_macro"})}
            )
        )


def test_train_refuses_tuning_without_a_search_result(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="make tune"):
        run_train(synthetic_settings(settings, tmp_path))


def test_an_unknown_metric_is_named(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(TuningError, match="not_a_metric"):
        run_tune(synthetic_settings(settings, tmp_path, metric="not_a_metric"))


def test_a_search_space_needs_complete_dimensions() -> None:
    with pytest.raises(ValidationError, match="low <= high"):
        SearchDimension(type="int", low=5, high=1)
    with pytest.raises(ValidationError, match="choices"):
        SearchDimension(type="categorical")
    with pytest.raises(ValidationError, match="search space"):
        TuneSettings(trials=3)


@pytest.mark.slow
def test_parallel_jobs_share_one_study(settings: Settings, tmp_path: Path) -> None:
    result = run_tune(synthetic_settings(settings, tmp_path, trials=2, jobs=2))
    # Each process stops once the study holds 2 finished trials; one may be under way then.
    assert 2 <= result["trials"] <= 3
    assert len(pd.read_csv(tmp_path / "trials.csv")) == result["trials"]
