"""The wheels of every pinned serving dependency, for the machine the bundle will run on.

``make package`` ships them inside the bundle so ``install.sh`` installs with
``--no-index``: a production host needs no package index and no internet. The target
is a Linux platform tag and a Python version (default: this machine's); the universal
lock ``requirements/serve.txt`` is narrowed to that target first (its environment
markers evaluated for the target, not for the Python running ``make package``, so
``numpy; python_full_version >= '3.12'`` picks the right pin), then ``pip download
--only-binary=:all: --require-hashes`` fetches exactly those files, each checked
against the lock's hashes. pip, not uv: uv has no download command.
"""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker

WHEELS_DIR = "wheels"
MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_(\w+)$")
LINUX = re.compile(r"^(?:manylinux\w*|linux)_(x86_64|aarch64|i686|ppc64le|s390x|armv7l)$")
# Legacy names of some glibc versions, which older wheels still carry.
LEGACY = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


class WheelhouseError(RuntimeError):
    """The target is unsupported or a pinned dependency has no wheel for it."""


@dataclass(frozen=True)
class Target:
    """Where the bundle installs: a platform tag (``manylinux_2_28_x86_64``) and a Python."""

    platform: str
    python: str

    @property
    def machine(self) -> str:
        found = MANYLINUX.match(self.platform) or LINUX.match(self.platform)
        if found is None:
            raise WheelhouseError(
                f"target platform {self.platform!r} is not a Linux platform tag: use e.g. "
                "manylinux_2_28_x86_64 or manylinux_2_28_aarch64 (TARGET_PLATFORM=...)"
            )
        return found.groups()[-1]


def this_machine() -> Target:
    """The platform and Python of the machine running this (glibc Linux only): the
    default target, for a server like the machine that builds the bundle."""
    libc, version = platform.libc_ver()
    if not sys.platform.startswith("linux") or libc != "glibc":
        raise WheelhouseError(
            "a bundle is built for a Linux (glibc) server: name it, e.g. make package "
            "TARGET_PLATFORM=manylinux_2_28_x86_64 TARGET_PYTHON=3.11"
        )
    major, minor = version.split(".")[:2]
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return Target(f"manylinux_{major}_{minor}_{platform.machine()}", python)


def platform_tags(target: Target) -> list[str]:
    """Every tag a wheel for ``target`` may carry: a manylinux_2_Y tag accepts the wheels of
    older glibc versions too (pip expands only some of them itself)."""
    found = MANYLINUX.match(target.platform)
    if found is None:
        target.machine  # noqa: B018 - refuses a non-Linux tag with the reason
        return [target.platform]
    major, minor, machine = int(found[1]), int(found[2]), found[3]
    tags = [f"manylinux_{major}_{y}_{machine}" for y in range(minor, 4, -1)]
    if major == 2:
        tags += [f"{LEGACY[y]}_{machine}" for y in sorted(LEGACY, reverse=True) if y <= minor]
    return tags


def marker_environment(target: Target) -> dict[str, str]:
    """The values environment markers compare, as the target's CPython reports them."""
    return {
        "python_version": target.python,
        "python_full_version": f"{target.python}.0",
        "implementation_name": "cpython",
        "implementation_version": f"{target.python}.0",
        "platform_python_implementation": "CPython",
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": target.machine,
    }


def target_lock(lock_text: str, target: Target) -> str:
    """The lock narrowed to ``target``: entries whose marker is false are dropped and the
    markers of the others removed, so any installer reads it the same on the target."""
    environment = marker_environment(target)
    kept: list[str] = []
    keep = True
    for line in lock_text.splitlines():
        if line and not line[0].isspace() and not line.startswith(("#", "-")):
            requirement, _, marker = line.removesuffix("\\").partition(";")
            keep = not marker.strip() or Marker(marker.strip()).evaluate(environment)
            line = f"{requirement.rstrip()} \\" if line.endswith("\\") else requirement.rstrip()
        elif not line.strip() or line.startswith("#"):
            keep = True
        if keep:
            kept.append(line)
    return "\n".join(kept) + "\n"


def download_wheels(lock: Path, folder: Path, target: Target) -> list[Path]:
    """Download the wheel of every requirement in ``lock`` (hash-checked) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    command += ["--only-binary=:all:", "--no-deps", "--require-hashes"]
    command += ["--implementation", "cp", "--python-version", target.python]
    for tag in platform_tags(target):
        command += ["--platform", tag]
    command += ["--dest", str(folder), "-r", str(lock)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode:
        raise WheelhouseError(
            f"downloading the serving wheels for {target.platform}, Python {target.python} "
            f"failed (pip download, needs the package index): {result.stderr.strip()[-2000:]}"
        )
    return sorted(folder.glob("*.whl"))
