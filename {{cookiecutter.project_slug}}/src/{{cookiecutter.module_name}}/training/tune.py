"""Stage ``tune``: search the estimator's hyper-parameters with Optuna.

Each trial cross-validates the whole Pipeline on the train split (the test split stays for
``evaluate``), with the values ``tune.space`` allows for the parameters it names; the rest
of ``model.params`` stay as they are. The study lives in a database (a local SQLite file by
default), named after everything that decides its results, so running the stage again
resumes it up to ``tune.trials`` finished trials instead of starting over. Several jobs are
several processes sharing that database, as Optuna documents for parallel searches.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Any

import pandas as pd
from sklearn.metrics import make_scorer
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

from {{ cookiecutter.module_name }}.config import SearchDimension, Settings
from {{ cookiecutter.module_name }}.scoring import (
    CLASSIFICATION,
    CLASSIFICATION_METRICS,
    REGRESSION,
    REGRESSION_METRICS,
    MetricError,
    check_metric,
    greater_is_better,
    score,
    task_of,
)
from {{ cookiecutter.module_name }}.storage import (
    atomic_write,
    sha256_file,
    write_json,
)
from {{ cookiecutter.module_name }}.training.data import load_split
from {{ cookiecutter.module_name }}.training.train import (
    build_pipeline,
    training_task,
    with_model_params,
)
from {{ cookiecutter.module_name }}.training.tune_steps import log_trial_steps

log = logging.getLogger(__name__)

# Seconds a process waits for another one's write to the SQLite file before giving up.
SQLITE_BUSY_TIMEOUT = 60


class TuningError(ValueError):
    """The search cannot run or found nothing; the message says what to change."""


def tune_metric(settings: Settings) -> str:
    """The metric the search optimises: ``tune.metric``, else ``evaluate.metric``."""
    return settings.tune.metric or settings.evaluate.metric


def direction(metric: str) -> str:
    """``minimize`` for error metrics, ``maximize`` for scores (scikit-learn's scorers say
    which is which)."""
    return "maximize" if greater_is_better(metric) else "minimize"


def study_name(settings: Settings) -> str:
    """A name that changes with anything that changes trial results (not with the budget),
    so a rerun with the same search resumes it and a different search starts afresh."""
    options = settings.tune
    decisive = {
        "model": settings.model.model_dump(mode="json"),
        # Where the study is kept does not change its trials: not part of its name.
        "search": options.model_dump(mode="json", exclude={"trials", "timeout", "jobs", "storage"}),
        "metric": tune_metric(settings),
        "train_data": sha256_file(settings.paths.train_data),
    }
    digest = hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()
    return f"{settings.model.estimator.rpartition('.')[2]}-{digest[:12]}"


def storage_url(settings: Settings) -> str:
    """``tune.storage`` if set (e.g. PostgreSQL, for several machines), else the SQLite file."""
    if settings.tune.storage:
        return settings.tune.storage
    settings.paths.tune_study.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{settings.paths.tune_study}"


def suggest(trial: Any, name: str, dimension: SearchDimension) -> Any:
    """Ask the trial for a value of one hyper-parameter within its range."""
    if dimension.type == "categorical":
        return trial.suggest_categorical(name, list(dimension.choices))
    if dimension.type == "int":
        step = int(dimension.step or 1)
        low, high = int(dimension.low or 0), int(dimension.high or 0)
        return trial.suggest_int(name, low, high, step=step, log=dimension.log)
    low, high = float(dimension.low or 0), float(dimension.high or 0)
    return trial.suggest_float(name, low, high, step=dimension.step, log=dimension.log)


def _metric(actual: Any, predicted: Any, metric: str, task: str) -> float:
    return score(actual, predicted, task, extra=metric)[metric]


def cross_validated(
    settings: Settings, params: dict[str, Any], features: pd.DataFrame, target: pd.Series
) -> float:
    """Mean of the metric over ``tune.cv_folds`` folds of the train split, for these params."""
    pipeline = build_pipeline(with_model_params(settings, params))
    metric = tune_metric(settings)
    task = task_of(pipeline) or REGRESSION
    folds = StratifiedKFold if task == CLASSIFICATION else KFold
    splitter = folds(settings.tune.cv_folds, shuffle=True, random_state=settings.tune.seed)
    scorer = make_scorer(partial(_metric, metric=metric, task=task))
    values = cross_val_score(
        pipeline, features, target, cv=splitter, scoring=scorer, error_score="raise"
    )
    return float(values.mean())


def _storage(url: str) -> Any:
    """Optuna's storage for ``url``; a database whose driver is missing is named, password
    hidden, with the package to install."""
    import optuna
    from sqlalchemy.engine import make_url

    sqlite = url.startswith("sqlite")
    engine = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}} if sqlite else None
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine)
    except ImportError as error:
        missing = getattr(error.__cause__, "name", None) or str(error)
        shown = make_url(url).render_as_string(hide_password=True)
        raise TuningError(
            f"tune.storage {shown} needs a database driver that is not installed "
            f"({missing}): install it into .venv (for postgresql+psycopg:// URLs, the "
            "psycopg[binary] package), or unset tune.storage to use the local SQLite file"
        ) from None


def _search(settings: Settings, url: str, name: str, worker: int) -> None:
    """Run trials until the study holds ``tune.trials`` finished ones (or the timeout)."""
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    features, target = load_split(settings.paths.train_data, settings)
    options = settings.tune
    sampler = optuna.samplers.TPESampler(seed=options.seed + worker)
    study = optuna.load_study(study_name=name, storage=_storage(url), sampler=sampler)
    finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    if finished >= options.trials:
        return

    def objective(trial: Any) -> float:
        params = {key: suggest(trial, key, value) for key, value in options.space.items()}
        return cross_validated(settings, params, features, target)

    study.optimize(
        objective,
        n_trials=options.trials - finished,
        timeout=options.timeout,
        callbacks=[MaxTrialsCallback(options.trials, states=(TrialState.COMPLETE,))],
        catch=(ValueError,),  # parameters the estimator refuses: a failed trial, not a crash
    )


def run_tune(settings: Settings) -> dict[str, Any]:
    """Stage ``tune``: search, then write the best params and the trials table under reports/."""
    options, paths = settings.tune, settings.paths
    if options.trials == 0:
        result: dict[str, Any] = {"enabled": False, "params": {}}
        write_json(paths.tune_best, result)
        empty = pd.DataFrame(columns=["trial", "state", "value", "best"])
        write_trials(empty, paths.tune_trials)
        log_trial_steps(empty, tune_metric(settings), paths.tune_live)
        log.info("tune: off (tune.trials is 0); train uses model.params")
        return result
    import optuna

    metric = tune_metric(settings)
    task = training_task(settings)
    try:
        check_metric(metric, task)
    except MetricError:
        known = REGRESSION_METRICS if task == REGRESSION else CLASSIFICATION_METRICS
        raise TuningError(
            f"tune.metric {metric!r} is not a {task} metric the project computes: set it to "
            f"one of {', '.join(known)} in params.yaml"
        ) from None
    url, name = storage_url(settings), study_name(settings)
    optuna.create_study(
        study_name=name, storage=_storage(url), direction=direction(metric), load_if_exists=True
    )
    if options.jobs == 1:
        _search(settings, url, name, worker=0)
    else:  # processes, not threads: scikit-learn fits hold the GIL
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(options.jobs, mp_context=spawn) as pool:
            runs = [pool.submit(_search, settings, url, name, w) for w in range(options.jobs)]
            for run in runs:
                run.result()
    study = optuna.load_study(study_name=name, storage=_storage(url))
    return write_results(settings, study, metric)


def write_results(settings: Settings, study: Any, metric: str) -> dict[str, Any]:
    """The best params (reports: best.json), every trial in order (trials.csv) and each
    trial as a DVCLive step (paths.tune_live)."""
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise TuningError(
            f"no trial of study {study.study_name} finished: check tune.space against "
            f"{settings.model.estimator}'s parameters (the log shows each trial's error)"
        )
    table = trials_table(study.get_trials(deepcopy=False), study.direction.name.lower())
    write_trials(table, settings.paths.tune_trials)
    log_trial_steps(table, metric, settings.paths.tune_live)
    best = study.best_trial
    result = {
        "enabled": True,
        "study": study.study_name,
        "metric": metric,
        "direction": study.direction.name.lower(),
        "best_value": round(float(best.value), 6),
        "best_trial": best.number,
        "trials": len(complete),
        "params": best.params,
    }
    write_json(settings.paths.tune_best, result)
    if len(complete) < settings.tune.trials:
        log.warning(
            "tune: %d of %d trials finished (tune.timeout); run make tune again to resume",
            len(complete),
            settings.tune.trials,
        )
    log.info("tune: best %s %.4f with %s", metric, best.value, best.params)
    return result


def trials_table(trials: list[Any], goal: str) -> pd.DataFrame:
    """One row per trial: its state, value, the best value so far and its params."""
    rows = [
        {
            "trial": trial.number,
            "state": trial.state.name.lower(),
            "value": trial.value if trial.state.name == "COMPLETE" else None,
            **{f"params.{key}": value for key, value in sorted(trial.params.items())},
        }
        for trial in sorted(trials, key=lambda item: item.number)
    ]
    table = pd.DataFrame(rows)
    values = table["value"].astype(float)
    table.insert(3, "best", (values.cummin() if goal == "minimize" else values.cummax()).ffill())
    return table


def write_trials(table: pd.DataFrame, path: Any) -> None:
    """Write the trials table atomically, numbers rounded so reruns diff cleanly."""
    atomic_write(path, lambda temporary: table.round(6).to_csv(temporary, index=False))
