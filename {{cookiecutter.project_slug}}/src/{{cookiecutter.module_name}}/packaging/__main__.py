"""``python -m {{ cookiecutter.module_name }}.packaging``: build the release bundle (``make package``)."""

from __future__ import annotations

import argparse
import sys

from {{ cookiecutter.module_name }}.config import (
    ConfigError,
    load_settings,
)
from {{ cookiecutter.module_name }}.packaging.bundle import (
    INSTALL_SCRIPT,
    PackagingError,
    build_bundle,
)
from {{ cookiecutter.module_name }}.packaging.wheel import WheelBuildError


def main(argv: list[str] | None = None) -> int:
    """Build the bundle of the prod version; a refusal is one message and exit code 1."""
    parser = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.module_name }}.packaging",
        description="Package the prod model with the serving wheel and pinned requirements.",
    )
    parser.parse_args(argv)
    try:
        bundle = build_bundle(load_settings())
    except (PackagingError, WheelBuildError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    folder = bundle.path.name.removesuffix(".tar.gz")
    print(f"Built {bundle.path} (model {bundle.model_version}, package {bundle.package_version})")
    print(f"sha256 {bundle.sha256} (also in {bundle.path.name}.sha256)")
    if bundle.git_dirty:
        print("warning: the work tree has uncommitted changes: the wheel holds them")
    print(f"On the target: tar xzf {bundle.path.name} && {folder}/{INSTALL_SCRIPT} VIRTUALENV")
    return 0


if __name__ == "__main__":
    sys.exit(main())
