"""One command line for every DVC stage: ``python -m {{ cookiecutter.module_name }}.training STAGE``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import Any

from {{ cookiecutter.module_name }}.config import (
    ConfigError,
    Settings,
    load_settings,
)
from {{ cookiecutter.module_name }}.storage import UntrustedArtifactError
from {{ cookiecutter.module_name }}.training.data import (
    DataError,
    run_prepare,
    run_split,
)
from {{ cookiecutter.module_name }}.training.evaluate import (
    QualityGateError,
    run_evaluate,
)
from {{ cookiecutter.module_name }}.training.train import TrainingError, run_train
from {{ cookiecutter.module_name }}.training.tune import TuningError, run_tune

STAGES: dict[str, Callable[[Settings], Any]] = {
    "prepare": run_prepare,
    "split": run_split,
    "tune": run_tune,
    "train": run_train,
    "evaluate": run_evaluate,
}
# Errors a user can meet and fix: reported in one line, without a traceback.
USER_ERRORS = (
    ConfigError,
    DataError,
    TrainingError,
    TuningError,
    QualityGateError,
    UntrustedArtifactError,
)


def main(argv: list[str] | None = None) -> int:
    """Run the named stages in order; exit 1 with a readable message on a user error."""
    parser = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.module_name }}.training",
    )
    parser.add_argument("stages", nargs="+", choices=[*STAGES, "all"], help="stages to run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    names = list(STAGES) if "all" in args.stages else args.stages
    try:
        settings = load_settings()
        for name in names:
            STAGES[name](settings)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
