"""``python -m {{ cookiecutter.module_name }}.batch INPUT --output OUTPUT``: score a file (``make score``).

INPUT is a CSV or Parquet file of any size; it is scored chunk by chunk into OUTPUT
(``.csv`` or ``.parquet``), and rows that cannot be scored go to an errors file with the
reason (see ``run.py``). A person reads the verdict in words (exit 0 once the run
finished); ``--check`` (``make score-check``) also exits 3 when rows were refused.
``--engine dask`` scores on a Dask cluster instead (``dask_engine.py``): INPUT may then be
a folder or a glob, and OUTPUT a dataset folder.
The engine is imported only when chosen, so the local engine never needs Dask.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from {{ cookiecutter.module_name }}.batch.paths import BatchError
from {{ cookiecutter.module_name }}.batch.run import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_ROWS_REJECTED,
    run_batch,
)
from {{ cookiecutter.module_name }}.config import (
    ConfigError,
    load_settings,
)
from {{ cookiecutter.module_name }}.prediction.loader import ModelLoadError


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, score the file; report user errors in one line."""
    args = parser().parse_args(argv)
    try:
        if args.engine == "dask":
            return run_dask(args)
        if args.workers is not None or args.scheduler is not None:
            raise BatchError("--workers and --scheduler need --engine dask")
        return run_batch(
            args.input,
            args.output,
            args.errors,
            args.chunk_size,
            args.id_columns,
            check=args.check,
        )
    except (ConfigError, ModelLoadError, RuntimeError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED


def run_dask(args: argparse.Namespace) -> int:
    """Score on Dask: loaded only here, so a missing install is one line that says what to do."""
    if args.workers is not None and args.scheduler is not None:
        raise BatchError("give --workers (a local cluster) or --scheduler (yours), not both")
    if args.workers is not None and args.workers < 1:
        raise BatchError(f"--workers must be at least 1, got {args.workers}")
    try:
        from {{ cookiecutter.module_name }}.batch.dask_engine import score_with_dask
    except ImportError as error:
        raise BatchError(
            f"the Dask engine needs dask and distributed ({error}): run make setup-dask"
        ) from None
    settings = load_settings()
    if args.chunk_size is not None:
        raise BatchError("--chunk-size is for the local engine; Dask partitions the input itself")
    summary = score_with_dask(
        args.input,
        Path(args.output),
        settings,
        errors=Path(args.errors) if args.errors else None,
        id_columns=args.id_columns,
        workers=args.workers,
        scheduler=args.scheduler,
    )
    print(summary.describe())
    return summary.exit_code if args.check else EXIT_OK


def parser() -> argparse.ArgumentParser:
    """The options and the exit codes."""
    batch = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.module_name }}.batch",
        description="Score INPUT chunk by chunk into OUTPUT (.csv or .parquet); rows that "
        "cannot be scored go to the errors file with the reason.",
        epilog=f"exit codes: 0 finished (the summary line says whether rows were refused); "
        f"{EXIT_FAILED} nothing written (the message says why); 2 wrong arguments; with "
        f"--check also {EXIT_ROWS_REJECTED}: finished, but some rows are in the errors file",
    )
    batch.add_argument(
        "input",
        help="the rows to score: a .csv or .parquet file (with --engine dask also a folder "
        "of them or a quoted glob)",
    )
    batch.add_argument(
        "-o",
        "--output",
        required=True,
        help="where to write predictions (.csv or .parquet; with --engine dask a name "
        "without extension is a Parquet dataset folder)",
    )
    batch.add_argument(
        "--errors",
        help="where to write refused rows (default: beside OUTPUT, batch.errors_suffix)",
    )
    batch.add_argument(
        "--check",
        action="store_true",
        help=f"exit {EXIT_ROWS_REJECTED} when some rows were refused (cron, CI: make score-check)",
    )
    batch.add_argument(
        "--chunk-size", type=int, help="rows in memory at a time (default: batch.chunk_size)"
    )
    batch.add_argument(
        "--id-column",
        dest="id_columns",
        action="append",
        help="input column to copy into the output; repeat for several (default: batch.id_columns)",
    )
    batch.add_argument(
        "--engine",
        choices=("local", "dask"),
        default="local",
        help="local (default): this process; dask: a Dask cluster (make setup-dask)",
    )
    batch.add_argument(
        "--workers",
        type=int,
        help="Dask: worker processes of a local cluster (default: one per core)",
    )
    batch.add_argument(
        "--scheduler", help="Dask: the address of your cluster's scheduler (tcp://host:8786)"
    )
    return batch


if __name__ == "__main__":
    sys.exit(main())
