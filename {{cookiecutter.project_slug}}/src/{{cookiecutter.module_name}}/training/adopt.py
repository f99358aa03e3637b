"""``make adopt DATA=... TARGET=...``: point the project at a new dataset in one command.

Reads the data (CSV, Parquet, or a folder of them), infers the schema and the task
(inference.py), shows the params.yaml changes as a diff and, after a yes, copies the data
under data/raw/ if it lies outside the project, runs ``dvc add`` on it and writes
params.yaml. The file is edited in place with ruamel.yaml, so every comment stays.
"""

from __future__ import annotations

import argparse
import difflib
import io
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from ruamel.yaml import YAML

from {{ cookiecutter.module_name }}.config import (
    ConfigError,
    DataSettings,
    default_params_path,
)
from {{ cookiecutter.module_name }}.scoring import (
    configured_task,
)
from {{ cookiecutter.module_name }}.storage import atomic_write
from {{ cookiecutter.module_name }}.training.data import (
    RAW_FORMATS,
    DataError,
    raw_files,
)
from {{ cookiecutter.module_name }}.training.inference import (
    Inference,
    InferenceError,
    infer,
)

RAW_FOLDER = Path("data/raw")
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "f1_weighted")
# What a task gets when the current model does not fit it (scikit-learn's names).
DEFAULTS: dict[str, dict[str, Any]] = {
    "classification": {
        "estimator": "sklearn.linear_model.LogisticRegression",
        "params": {"C": 1.0, "max_iter": 1000},
        "metric": "f1_macro",
        "baseline_strategy": "most_frequent",
    },
    "regression": {
        "estimator": "sklearn.linear_model.Ridge",
        "params": {"alpha": 1.0},
        "metric": "r2",
        "baseline_strategy": "mean",
    },
}


class AdoptError(ValueError):
    """The data cannot be adopted; the message says what to change."""


def round_trip_yaml() -> YAML:
    """A YAML reader/writer that gives params.yaml back byte for byte when nothing changed."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(
        type(None), lambda dumper, _: dumper.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return yaml


def read_dataset(path: Path, options: DataSettings) -> pd.DataFrame:
    """The data as pandas types it (numbers as numbers), every file of a folder together."""
    frames = []
    for file in raw_files(path):
        if not file.is_file():
            raise AdoptError(f"{file} not found: DATA must name a CSV or Parquet file or a folder")
        try:
            if RAW_FORMATS.get(file.suffix.lower()) == "parquet":
                frames.append(pd.read_parquet(file))
            else:
                frames.append(
                    pd.read_csv(file, sep=options.separator, na_values=list(options.na_values))
                )
        except (OSError, ValueError, UnicodeDecodeError) as error:
            raise AdoptError(f"could not read {file}: {error}") from None
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def propose(params: Any, inference: Inference, raw_data: str) -> list[str]:
    """Change the round-trip ``params`` in place for ``inference``; return notes on the model."""
    params["paths"]["raw_data"] = raw_data
    schema = params["schema"]
    schema["target"] = inference.target
    schema["numeric"] = list(inference.numeric)
    schema["categorical"] = list(inference.categorical)
    schema["ranges"] = {}
    features = {*inference.numeric, *inference.categorical}
    log = params.get("monitoring", {}).get("log", {})
    for key in ("exclude", "hash"):
        if key in log:
            log[key] = [name for name in log[key] if name in features]
    model, evaluate = params["model"], params["evaluate"]
    defaults = DEFAULTS[inference.task]
    notes = []
    if configured_task(str(model["estimator"])) == inference.task:
        notes.append(f"model: {model['estimator']} (kept: it fits a {inference.task})")
    else:
        notes.append(f"model: {defaults['estimator']} (a {inference.task} needs one)")
        model["estimator"] = defaults["estimator"]
        model["params"] = dict(defaults["params"])
    metric_fits = (evaluate["metric"] in CLASSIFICATION_METRICS) == (
        inference.task == "classification"
    )
    if not metric_fits:
        evaluate["metric"] = defaults["metric"]
        evaluate["baseline_strategy"] = defaults["baseline_strategy"]
    notes.append(f"metric: {evaluate['metric']}, baseline: {evaluate['baseline_strategy']}")
    params["split"]["stratify"] = inference.task == "classification"
    return notes


def describe(inference: Inference, source: Path, rows: int, notes: list[str]) -> str:
    """The proposal in plain words, verdict first."""
    kind = (
        f"a classification with {inference.classes} classes"
        if inference.task == "classification"
        else f"a regression ({inference.classes} distinct values)"
    )
    lines = [f"{source}: {rows} rows; predicting {inference.target!r} is {kind}."]

    def listed(names: list[str]) -> str:
        return ", ".join(names) if names else "none"

    lines.append(f"  numeric features ({len(inference.numeric)}): {listed(inference.numeric)}")
    lines.append(
        f"  categorical features ({len(inference.categorical)}): {listed(inference.categorical)}"
    )
    if inference.left_out:
        lines.append(f"  left out ({len(inference.left_out)}):")
        lines += [f"    {name}: {reason}" for name, reason in inference.left_out.items()]
    if inference.dates:
        lines.append(f"  dates (left out): {listed(inference.dates)}")
    lines += [f"  note on {name}: {note}" for name, note in inference.notes.items()]
    lines += [f"  {note}" for note in notes]
    return "\n".join(lines)


def place_data(source: Path, root: Path) -> Path:
    """The data's path inside the project: as it is if it lies inside, else a copy under
    data/raw/ (DVC tracks files of its own repository only)."""
    source = source.resolve()
    try:
        source.relative_to(root.resolve())
        return source
    except ValueError:
        target = root / RAW_FOLDER / source.name
        if target.exists():
            raise AdoptError(
                f"{target} exists already: move {source} into the project yourself, or rename it"
            ) from None
        print(f"copying {source} to {target}")
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        return target


def dvc_add(path: Path, root: Path) -> None:
    """``dvc add`` the data so git tracks its .dvc file, not the data."""
    dvc = shutil.which("dvc") or str(Path(sys.executable).with_name("dvc"))
    result = subprocess.run(
        [dvc, "add", "--quiet", str(path.relative_to(root))],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise AdoptError(f"DVC could not track {path}: {(result.stderr or result.stdout).strip()}")


def confirmed(yes: bool) -> bool:
    """The user's yes: --yes, or a y at the prompt (never without a terminal)."""
    if yes:
        return True
    if not sys.stdin.isatty():
        print("Nothing written: no terminal to ask. To accept, run again with YES=1.")
        return False
    answer = input("Write these changes to params.yaml and track the data with DVC? [y/N] ")
    if answer.strip().lower() in ("y", "yes"):
        return True
    print("Nothing written.")
    return False


def adopt(data: Path, target: str, yes: bool, params_path: Path) -> bool:
    """Propose, confirm, then place the data, ``dvc add`` it and write params.yaml."""
    root = params_path.resolve().parent
    yaml = round_trip_yaml()
    text = params_path.read_text(encoding="utf-8")
    params = yaml.load(text)
    options = DataSettings(**{**params.get("data", {}), "min_rows": 2})
    frame = read_dataset(data, options)
    inference = infer(frame, target)
    inside = data.resolve()
    try:
        relative = inside.relative_to(root.resolve()).as_posix()
    except ValueError:
        relative = (RAW_FOLDER / data.name).as_posix()
    notes = propose(params, inference, relative)
    print(describe(inference, data, len(frame), notes))
    buffer = io.StringIO()
    yaml.dump(params, buffer)
    proposed = buffer.getvalue()
    diff = difflib.unified_diff(
        text.splitlines(keepends=True),
        proposed.splitlines(keepends=True),
        "params.yaml",
        "params.yaml (proposed)",
    )
    print("".join(diff) or "params.yaml already says this.")
    if not confirmed(yes):
        return False
    placed = place_data(data, root)
    dvc_add(placed, root)
    atomic_write(params_path, lambda temporary: temporary.write_text(proposed, encoding="utf-8"))
    print(
        f"params.yaml updated and {relative} tracked by DVC. Next: review params.yaml, then "
        "make train, make test, commit (git add -A && git commit), make register and "
        'make promote (docs/data.md, "Bring your own data").'
    )
    return True


def main(argv: list[str] | None = None) -> int:
    """``python -m ...training.adopt --target COLUMN [--yes] DATA``; exit 1 if not written."""
    parser = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.module_name }}.training.adopt",
    )
    parser.add_argument("data", type=Path, help="a CSV or Parquet file, or a folder of them")
    parser.add_argument("--target", required=True, help="the column to predict")
    parser.add_argument("--yes", action="store_true", help="write without asking")
    args = parser.parse_args(argv)
    try:
        written = adopt(args.data, args.target, args.yes, default_params_path())
    except (AdoptError, InferenceError, DataError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
