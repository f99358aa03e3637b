"""Assemble a release bundle from the model store's prod version; write it as one tarball.

The bundle is a folder ``<project>-<model version>/`` holding the serving wheel (with the
monitoring code, so drift runs on the server's own log), the serving requirements pinned
for the target machine and every one of their wheels (``wheels/``: it installs with no
package index), params.yaml and gunicorn.conf.py, a one-version model store (the prod
version and its reference profile, at the place params.yaml names, so the installed
server finds it from the bundle folder), ``install.sh``, ``run.sh`` (serve or check drift
with logs and state outside the bundle) and ``verify.py``, ``bundle.json`` (what is
inside) and ``MANIFEST.sha256`` (every file's sha256). The tarball is deterministic (see
``archive.py``): packaging the same state twice gives the same bytes, so its sha256
identifies a release.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from {{ cookiecutter.module_name }}.config import (
    PARAMS_FILE,
    Settings,
    load_settings,
)
from {{ cookiecutter.module_name }}.packaging import manifest
from {{ cookiecutter.module_name }}.packaging.archive import (
    write_checksum,
    write_tarball,
)
from {{ cookiecutter.module_name }}.packaging.wheel import build_wheel
from {{ cookiecutter.module_name }}.packaging.wheelhouse import (
    WHEELS_DIR,
    Target,
    download_wheels,
    target_lock,
)
from {{ cookiecutter.module_name }}.prediction.loader import ModelLoadError
from {{ cookiecutter.module_name }}.prediction.store import (
    ModelStore,
    Pointer,
)
from {{ cookiecutter.module_name }}.prediction.vetting import (
    file_hashes,
    seal,
    store_key,
)
from {{ cookiecutter.module_name }}.storage import write_json

# 1980-01-01: the earliest time a zip (the wheel) can hold; SOURCE_DATE_EPOCH overrides it.
DEFAULT_EPOCH = 315_532_800
HERE = Path(__file__).resolve().parent
INSTALL_SCRIPT = "install.sh"
RUN_SCRIPT = "run.sh"
SERVE_LOCK = "serve.txt"
# Fetches the wheels of a lock for a target (tests pass a stand-in: no network).
Download = Callable[[Path, Path, Target], list[Path]]
VERIFY_SCRIPT = "verify.py"
INFO_FILE = "bundle.json"


class PackagingError(RuntimeError):
    """There is nothing releasable (no prod version) or the bundle cannot be assembled."""


@dataclass(frozen=True)
class Bundle:
    """A written bundle: the tarball, its sha256 and what it holds."""

    path: Path
    sha256: str
    model_version: str
    package_version: str
    git_dirty: bool | None


def source_date_epoch() -> int:
    """The time stamped on every file: SOURCE_DATE_EPOCH if set, else a fixed date."""
    return int(os.environ.get("SOURCE_DATE_EPOCH") or DEFAULT_EPOCH)


def project_table(project_root: Path) -> dict[str, Any]:
    """The [project] table of pyproject.toml: the name and version bundles carry."""
    pyproject = tomllib.loads((project_root / "pyproject.toml").read_text(encoding="utf-8"))
    return dict(pyproject["project"])


def package_version(project_version: str, model_version: str) -> str:
    """The project's version with the model version as a PEP 440 local label.

    ``0.1.0+model.2.0.0`` is the code of project 0.1.0 released with model v2.0.0: ``pip
    show`` on the target names both.
    """
    return f"{project_version}+model.{model_version.removeprefix('v')}"


def bundle_pointer(version: str, metadata: dict[str, Any]) -> Pointer:
    """The bundle's prod pointer: vouching for the files it ships, sealed with the store
    key when it is set (the installed server then needs the same key)."""
    pointer = Pointer(version, vetted={version: file_hashes(metadata)})
    key = store_key()
    if key is None:
        return pointer
    return dataclasses.replace(pointer, signature=seal(pointer.content(), key))


def prod_model(settings: Settings) -> tuple[ModelStore, str, dict[str, Any]]:
    """The store, the prod version and its metadata, verified the way the server loads it."""
    store = ModelStore.from_settings(settings)
    try:
        store.sync()
        pointer = store.read_pointer()
        if pointer is None:
            raise PackagingError(
                f"no version is in prod in the model store {store.root}: a bundle ships only "
                "a promoted model. Register and promote one first: make register, then "
                "make promote VERSION=..."
            )
        model = store.load_version(
            pointer.version,
            settings.serving.trusted_types,
            settings.inference.runtime,
            pointer.vetted.get(pointer.version),
        )
    except ModelLoadError as error:
        raise PackagingError(f"the prod model cannot be packaged: {error}") from None
    if model.version != pointer.version:
        raise PackagingError(
            f"the prod pointer names {pointer.version} but its folder holds {model.version}"
        )
    return store, pointer.version, model.metadata


def model_files(store: ModelStore, version: str, metadata: dict[str, Any]) -> list[Path]:
    """The files the server reads for one version: metadata, artifact, certified ONNX copy."""
    files = [store.metadata_path(version), store.artifact_path(version, metadata)]
    onnx = metadata.get("onnx") or {}
    if onnx.get("status") == "passed":
        files.append(store.version_dir(version) / Path(str(onnx["file"])).name)
    profile = store.reference_profile_path(version, metadata)  # what drift compares with
    if profile is not None and profile.is_file():
        files.append(profile)
    return files


def git_source(root: Path) -> dict[str, Any]:
    """The commit the wheel's code comes from and whether the tree had changes (None: no git)."""

    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, check=False
            )
        except FileNotFoundError:
            return None
        return result.stdout.strip() if result.returncode == 0 else None

    commit = git("rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


def assemble(
    settings: Settings,
    folder: Path,
    epoch: int,
    prod: tuple[ModelStore, str, dict[str, Any]],
    target: Target,
    download: Download,
) -> dict[str, Any]:
    """Fill ``folder`` with the bundle's files and its manifest; return bundle.json's content."""
    root = settings.root
    store, version, metadata = prod
    project = project_table(root)
    folder.mkdir(parents=True)
    shutil.copyfile(root / PARAMS_FILE, folder / PARAMS_FILE)
    shutil.copyfile(root / "gunicorn.conf.py", folder / "gunicorn.conf.py")
    lock = (root / "requirements" / SERVE_LOCK).read_text(encoding="utf-8")
    (folder / SERVE_LOCK).write_text(target_lock(lock, target), encoding="utf-8")
    download(folder / SERVE_LOCK, folder / WHEELS_DIR, target)
    for script in (INSTALL_SCRIPT, RUN_SCRIPT):
        shutil.copyfile(HERE / script, folder / script)
    shutil.copyfile(HERE / "manifest.py", folder / VERIFY_SCRIPT)
    # Where the installed server will look: the bundle's own params.yaml decides.
    bundled = ModelStore(load_settings(folder / PARAMS_FILE, environ={}).paths.registry)
    if not bundled.root.resolve().is_relative_to(folder.resolve()):
        raise PackagingError(
            f"paths.registry in params.yaml points outside the project ({bundled.root}); "
            "a bundle carries its model store inside: make it a relative path"
        )
    for source in model_files(store, version, metadata):
        copy = bundled.version_dir(version) / source.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, copy)
    write_json(bundled.pointer_path, bundle_pointer(version, metadata).to_json())
    wheel_version = package_version(str(project["version"]), version)
    wheel = build_wheel(root, wheel_version, folder, epoch)
    info = {
        "project": project["name"],
        "package_version": wheel_version,
        "wheel": wheel.name,
        "model_version": version,
        "model_sha256": metadata["artifact"]["sha256"],
        "source": git_source(root),
        "target": {"platform": target.platform, "python": target.python},
    }
    write_json(folder / INFO_FILE, info)
    (folder / manifest.MANIFEST_FILE).write_text(manifest.manifest_text(folder), encoding="utf-8")
    return info


def build_bundle(
    settings: Settings, target: Target, download: Download = download_wheels
) -> Bundle:
    """Package the prod version for ``target`` into ``paths.bundles``/<project>-<version>.tar.gz
    (+ .sha256)."""
    epoch = source_date_epoch()
    prod = prod_model(settings)
    name = f"{project_table(settings.root)['name']}-{prod[1]}"
    with tempfile.TemporaryDirectory(prefix="bundle-") as temporary:
        folder = Path(temporary) / name
        info = assemble(settings, folder, epoch, prod, target, download)
        tarball = settings.paths.bundles / f"{name}.tar.gz"
        write_tarball(folder, tarball, epoch, executables={INSTALL_SCRIPT, RUN_SCRIPT})
    digest = write_checksum(tarball)
    return Bundle(tarball, digest, prod[1], info["package_version"], info["source"]["git_dirty"])
