"""``python -m {{ cookiecutter.module_name }}.batch INPUT --output OUTPUT``: score a file (``make score``).

INPUT is a CSV or Parquet file of any size; it is scored chunk by chunk into OUTPUT
(``.csv`` or ``.parquet``), and rows that cannot be scored go to an errors file with the
reason (see ``run.py``).
"""

from __future__ import annotations

import argparse
import sys

from {{ cookiecutter.module_name }}.batch.run import (
    EXIT_FAILED,
    EXIT_ROWS_REJECTED,
    run_batch,
)
from {{ cookiecutter.module_name }}.config import ConfigError
from {{ cookiecutter.module_name }}.prediction.loader import ModelLoadError


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, score the file; report user errors in one line."""
    args = parser().parse_args(argv)
    try:
        return run_batch(args.input, args.output, args.errors, args.chunk_size, args.id_columns)
    except (ConfigError, ModelLoadError, RuntimeError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED


def parser() -> argparse.ArgumentParser:
    """The options and the exit codes."""
    batch = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.module_name }}.batch",
        description="Score INPUT chunk by chunk into OUTPUT (.csv or .parquet); rows that "
        "cannot be scored go to the errors file with the reason.",
        epilog=f"exit codes: 0 every row scored; {EXIT_ROWS_REJECTED} finished, but some rows "
        f"are in the errors file; {EXIT_FAILED} nothing written (the message says why); "
        "2 wrong arguments",
    )
    batch.add_argument("input", help="the rows to score: a .csv or .parquet file")
    batch.add_argument(
        "-o", "--output", required=True, help="where to write predictions (.csv or .parquet)"
    )
    batch.add_argument(
        "--errors",
        help="where to write refused rows (default: beside OUTPUT, batch.errors_suffix)",
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
    return batch


if __name__ == "__main__":
    sys.exit(main())
