"""Train each estimator of the matrix on a baked project's sample data; run INSIDE it.

Run with the project's own interpreter (``.venv/bin/python``): it imports the project's
package and trains each estimator from params.yaml's settings with only the model, the
target and the metric changed (what a user edits), every output in a temporary folder.
Prints one JSON line per estimator: its task, gate metric, whether it passed, and the
ONNX copy's status with the reason when scikit-learn serves instead. ``--time`` adds
in-process prediction times, scikit-learn against the ONNX copy, in the same run.

    .venv/bin/python estimator_matrix.py MODULE [--time] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

# (estimator, params, task): the sample's regression target is body_mass_g, its
# classification target species.
MATRIX: list[tuple[str, dict[str, Any], str]] = [
    ("sklearn.linear_model.LogisticRegression", {"max_iter": 1000}, "classification"),
    (
        "sklearn.ensemble.RandomForestClassifier",
        {"n_estimators": 50, "random_state": 0},
        "classification",
    ),
    (
        "sklearn.ensemble.GradientBoostingClassifier",
        {"n_estimators": 50, "random_state": 0},
        "classification",
    ),
    (
        "sklearn.ensemble.HistGradientBoostingClassifier",
        {"max_iter": 50, "random_state": 0},
        "classification",
    ),
    ("sklearn.linear_model.Ridge", {"alpha": 1.0}, "regression"),
    ("sklearn.linear_model.ElasticNet", {"alpha": 0.1}, "regression"),
    (
        "sklearn.ensemble.RandomForestRegressor",
        {"n_estimators": 50, "random_state": 0},
        "regression",
    ),
    (
        "sklearn.ensemble.GradientBoostingRegressor",
        {"n_estimators": 50, "random_state": 0},
        "regression",
    ),
    (
        "sklearn.ensemble.HistGradientBoostingRegressor",
        {"max_iter": 50, "random_state": 0},
        "regression",
    ),
]
REGRESSION_TARGET = "body_mass_g"


def settings_for(
    package: str, estimator: str, params: dict[str, Any], task: str, folder: Path
) -> Any:
    """params.yaml's settings with this estimator (and, for regression, the numeric target)."""
    config = importlib.import_module(f"{package}.config")
    settings = config.load_settings()
    schema = settings.feature_schema
    if task == "regression" and schema.target != REGRESSION_TARGET:
        schema = schema.model_copy(
            update={
                "target": REGRESSION_TARGET,
                "numeric": tuple(n for n in schema.numeric if n != REGRESSION_TARGET),
                "categorical": (*schema.categorical, schema.target),
                "ranges": {k: v for k, v in schema.ranges.items() if k != REGRESSION_TARGET},
            }
        )
    metric, strategy = ("r2", "mean") if task == "regression" else ("f1_macro", "most_frequent")
    updated = settings.model_copy(
        update={
            "feature_schema": schema,
            "model": settings.model.model_copy(update={"estimator": estimator, "params": params}),
            "evaluate": settings.evaluate.model_copy(
                update={"metric": metric, "baseline_strategy": strategy}
            ),
        }
    )
    outputs = {
        name: folder / path.name
        for name, path in updated.paths.model_dump().items()
        if name != "raw_data"
    }
    return updated.with_paths(**outputs)


def train(package: str, settings: Any) -> dict[str, Any]:
    """Run the four stages; return the metadata's verdicts."""
    data = importlib.import_module(f"{package}.training.data")
    train_module = importlib.import_module(f"{package}.training.train")
    evaluate = importlib.import_module(f"{package}.training.evaluate")
    storage = importlib.import_module(f"{package}.storage")
    data.run_prepare(settings)
    data.run_split(settings)
    started = time.perf_counter()
    train_module.run_train(settings)
    fit_seconds = time.perf_counter() - started
    evaluate.run_evaluate(settings)
    metadata = storage.read_json(settings.paths.metadata)
    gate = metadata["metrics"]["gate"]
    onnx = metadata["onnx"]
    return {
        "task": metadata["task"],
        "metric": gate["metric"],
        "score": metadata["metrics"]["model"][gate["metric"]],
        "gate_passed": gate["passed"],
        "onnx": onnx["status"],
        "reason": onnx.get("reason"),
        "fit_seconds": round(fit_seconds, 3),
    }


def best_of(call: Any, repeats: int) -> float:
    """Median seconds of ``repeats`` calls (after one warm-up)."""
    call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def timings(package: str, settings: Any) -> dict[str, Any]:
    """Prediction times in process: one row and 1,000 rows, scikit-learn against ONNX."""
    loader = importlib.import_module(f"{package}.prediction.loader")
    paths = settings.paths
    models = {"sklearn": loader.load_model(paths.model, paths.metadata, runtime="sklearn")}
    if models["sklearn"].metadata["onnx"]["status"] == "passed":
        models["onnx"] = loader.load_model(paths.model, paths.metadata, runtime="onnx")
    import pandas as pd

    test = pd.read_csv(paths.test_data)
    rows = pd.concat([test] * (1000 // len(test) + 1), ignore_index=True).iloc[:1000]
    result: dict[str, Any] = {}
    for name, model in models.items():
        one = model.schema.coerce_features(rows.iloc[:1])
        many = model.schema.coerce_features(rows)
        result[f"{name}_1_row_ms"] = round(best_of(partial(model.predict, one), 200) * 1000, 4)
        result[f"{name}_1000_rows_ms"] = round(best_of(partial(model.predict, many), 20) * 1000, 3)
    if "onnx" in models:
        for size in ("1_row", "1000_rows"):
            result[f"speedup_{size}"] = round(
                result[f"sklearn_{size}_ms"] / result[f"onnx_{size}_ms"], 2
            )
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("package")
    parser.add_argument("--time", action="store_true", help="also time predictions")
    parser.add_argument("--only", nargs="*", help="estimator class names to run")
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    for estimator, params, task in MATRIX:
        if args.only and estimator.rpartition(".")[2] not in args.only:
            continue
        with tempfile.TemporaryDirectory(prefix="matrix-") as folder:
            settings = settings_for(args.package, estimator, params, task, Path(folder))
            row: dict[str, Any] = {"estimator": estimator, "params": params}
            try:
                row.update(train(args.package, settings))
                if args.time:
                    row.update(timings(args.package, settings))
            except Exception as error:  # reported, so one estimator does not hide the rest
                row["error"] = f"{type(error).__name__}: {error}"
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
