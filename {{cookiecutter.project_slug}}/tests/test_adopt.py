"""`make adopt`: infer a schema from new data, show the params.yaml diff, write on a yes.

Synthetic frames only: every rule is checked on data built here, and the project's own
params.yaml is edited in a temporary copy.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from {{ cookiecutter.module_name }}.config import (
    PARAMS_ENV,
    default_params_path,
    load_settings,
)
from {{ cookiecutter.module_name }}.training.adopt import (
    adopt,
    main,
    round_trip_yaml,
)
from {{ cookiecutter.module_name }}.training.inference import (
    InferenceError,
    infer,
)

ROWS = 60


def dataset(target: pd.Series) -> pd.DataFrame:
    """Columns of every kind the inference tells apart, and ``target``."""
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "row_id": np.arange(ROWS),
            "customer": [f"person {index}" for index in range(ROWS)],
            "signed_up": pd.date_range("2024-01-01", periods=ROWS).strftime("%Y-%m-%d"),
            "income": rng.normal(50_000, 10_000, ROWS).round(2),
            "children": rng.integers(0, 4, ROWS),
            "plan": rng.choice(["basic", "plus", None], ROWS),
            "constant": "same",
            "y": target,
        }
    )


def classes() -> pd.Series:
    return pd.Series(np.arange(ROWS) % 2)


def test_inference_sorts_columns_and_says_why_it_leaves_some_out() -> None:
    inference = infer(dataset(classes()), "y")
    assert inference.task == "classification"
    assert inference.classes == 2
    assert inference.numeric == ["income", "children"]
    assert inference.categorical == ["plan"]
    assert set(inference.left_out) == {"row_id", "customer", "signed_up", "constant"}
    assert "identifier-like" in inference.left_out["row_id"]
    assert "identifier-like" in inference.left_out["customer"]
    assert inference.dates == ["signed_up"]
    assert "schema.categorical" in inference.notes["children"]  # few codes: maybe a category


def test_a_numeric_target_with_many_values_is_a_regression() -> None:
    inference = infer(dataset(pd.Series(np.linspace(0, 1, ROWS))), "y")
    assert inference.task == "regression"


def test_text_and_few_numbers_are_classes() -> None:
    assert infer(dataset(classes().map({0: "no", 1: "yes"})), "y").task == "classification"
    assert infer(dataset(pd.Series(np.arange(ROWS) % 5 * 1.0)), "y").task == "classification"


@pytest.mark.parametrize(
    ("target", "message"), [("nope", "no column 'nope'"), ("constant", "single value")]
)
def test_a_target_that_cannot_be_predicted_is_refused(target: str, message: str) -> None:
    with pytest.raises(InferenceError, match=message):
        infer(dataset(classes()), target)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with a copy of this project's params.yaml and a DVC repository."""
    shutil.copy(default_params_path(), tmp_path / "params.yaml")
    subprocess.run(
        [Path(sys.executable).with_name("dvc"), "init", "--no-scm", "--quiet"],
        cwd=tmp_path,
        check=True,
    )
    return tmp_path


def test_adopt_without_a_yes_writes_nothing(project: Path, monkeypatch, capsys) -> None:
    before = (project / "params.yaml").read_text(encoding="utf-8")
    data = project / "new.csv"
    dataset(classes()).to_csv(data, index=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert adopt(data, "y", yes=False, params_path=project / "params.yaml") is False
    output = capsys.readouterr().out
    assert "Nothing written" in output
    assert "YES=1" in output
    assert "+  target: y" in output  # the diff was shown
    assert (project / "params.yaml").read_text(encoding="utf-8") == before
    assert not (project / "new.csv.dvc").exists()


def test_adopt_with_yes_edits_params_keeping_comments_and_tracks_the_data(
    project: Path,
) -> None:
    before = (project / "params.yaml").read_text(encoding="utf-8")
    data = project / "data" / "new.parquet"
    data.parent.mkdir()
    dataset(classes()).to_parquet(data, index=False)
    assert adopt(data, "y", yes=True, params_path=project / "params.yaml") is True
    after = (project / "params.yaml").read_text(encoding="utf-8")
    comments = [line.split("#", 1)[1] for line in before.splitlines() if "#" in line]
    assert all(comment in after for comment in comments)  # no comment lost
    params = yaml.safe_load(after)
    assert params["paths"]["raw_data"] == "data/new.parquet"
    assert params["schema"]["target"] == "y"
    assert params["schema"]["categorical"] == ["plan"]
    assert params["schema"]["ranges"] == {}
    assert (project / "data" / "new.parquet.dvc").is_file()
    settings = load_settings(project / "params.yaml")  # still a valid params.yaml
    assert settings.feature_schema.numeric == ("income", "children")


# params.yaml as the template writes it: aligned comments, indented lists, null, quotes.
TEMPLATE_STYLE = """\
paths:
  raw_data: data/raw/sample.csv            # the raw CSV or Parquet file (or folder)
schema:
  target: y                                # the column to predict
  task: null                               # classification | regression | null
  numeric:                                 # imputed (median) and scaled
    - income
    - children
  categorical: []
data:
  na_values: ["NA", ""]
"""


def round_trip(text: str) -> str:
    reader = round_trip_yaml()
    buffer = io.StringIO()
    reader.dump(reader.load(text), buffer)
    return buffer.getvalue()


def test_round_trip_gives_params_back_unchanged() -> None:
    assert round_trip(TEMPLATE_STYLE) == TEMPLATE_STYLE
    # The project's own params.yaml may be in any style its owner chose (or a tool wrote):
    # adopt may reformat it once, then leaves it as it is.
    text = default_params_path().read_text(encoding="utf-8")
    assert round_trip(round_trip(text)) == round_trip(text)


def test_adopt_of_absent_data_is_one_line_error(project: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(PARAMS_ENV, str(project / "params.yaml"))
    assert main(["--target", "y", "--yes", str(project / "absent.csv")]) == 1
    assert "absent.csv not found" in capsys.readouterr().err
