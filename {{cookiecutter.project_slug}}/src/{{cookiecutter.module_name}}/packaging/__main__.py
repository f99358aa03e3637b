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
    RUN_SCRIPT,
    PackagingError,
    build_bundle,
)
from {{ cookiecutter.module_name }}.packaging.wheel import WheelBuildError
from {{ cookiecutter.module_name }}.packaging.wheelhouse import (
    Target,
    WheelhouseError,
    this_machine,
)


def main(argv: list[str] | None = None) -> int:
    """Build the bundle of the prod version; a refusal is one message and exit code 1."""
    parser = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.module_name }}.packaging",
        description="Package the prod model with the serving wheel and pinned requirements.",
    )
    parser.add_argument(
        "--platform",
        help="the server's platform tag (default: this machine's), e.g. manylinux_2_28_x86_64",
    )
    parser.add_argument("--python", help="the server's Python, e.g. 3.12 (default: this one)")
    args = parser.parse_args(argv)
    try:
        python = args.python or f"{sys.version_info.major}.{sys.version_info.minor}"
        target = Target(args.platform or this_machine().platform, python)
        bundle = build_bundle(load_settings(), target)
    except (PackagingError, WheelBuildError, WheelhouseError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    folder = bundle.path.name.removesuffix(".tar.gz")
    print(f"Built {bundle.path} (model {bundle.model_version}, package {bundle.package_version})")
    print(f"sha256 {bundle.sha256} (also in {bundle.path.name}.sha256)")
    if bundle.git_dirty:
        print("warning: the work tree has uncommitted changes: the wheel holds them")
    print(f"For {target.platform}, Python {target.python} (wheels included: no index needed)")
    print(f"On the target: tar xzf {bundle.path.name} && {folder}/{INSTALL_SCRIPT} VIRTUALENV")
    print(f"then: {folder}/{RUN_SCRIPT} VIRTUALENV serve (and drift: docs/deployment.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
