"""The values of ``make experiment*`` become ``dvc exp`` arguments, never shell code."""

from __future__ import annotations

import pytest

from {{ cookiecutter.module_name }}.training.experiments import (
    ExperimentError,
    commands,
    set_params,
)


def test_each_assignment_becomes_one_set_param_split_as_a_shell_would() -> None:
    assert set_params("model.params.C=0.5  model.estimator='a b' x='$(touch y)'") == [
        "--set-param=model.params.C=0.5",
        "--set-param=model.estimator=a b",
        "--set-param=x=$(touch y)",  # text for DVC, never run
    ]


@pytest.mark.parametrize("value", ["", "model.params.C", "=1", "a='unclosed"])
def test_a_value_that_is_not_key_value_is_refused_with_the_usage(value: str) -> None:
    with pytest.raises(ExperimentError, match="SET="):
        set_params(value)


def test_queue_queues_the_grid_then_runs_the_whole_queue_in_parallel() -> None:
    assert commands("queue", "model.params.C=0.1,1", jobs=3) == [
        ["dvc", "exp", "run", "--queue", "--set-param=model.params.C=0.1,1"],
        ["dvc", "exp", "run", "--run-all", "--jobs=3"],
    ]
    assert commands("queue", None, jobs=2) == [["dvc", "exp", "run", "--run-all", "--jobs=2"]]


def test_apply_passes_the_name_after_a_double_dash() -> None:
    assert commands("apply", "-odd-name", jobs=1) == [["dvc", "exp", "apply", "--", "-odd-name"]]
    with pytest.raises(ExperimentError, match="NAME="):
        commands("apply", "", jobs=1)
