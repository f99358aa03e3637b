"""Release bundles: the checksum manifest, the deterministic tarball, the bundle's contents.

The manifest tests tamper with a folder one way at a time (a changed byte, a missing
file, an extra file) and check the refusal names the file. The bundle tests build a real
one from a model store whose prod version is the model trained in-process; that runs
``uv build`` (setuptools from the package index or uv's cache; a few seconds).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from {{ cookiecutter.module_name }}.config import (
    Settings,
    load_settings,
)
from {{ cookiecutter.module_name }}.packaging import manifest
from {{ cookiecutter.module_name }}.packaging.archive import write_tarball
from {{ cookiecutter.module_name }}.packaging.bundle import (
    Bundle,
    PackagingError,
    build_bundle,
)
from {{ cookiecutter.module_name }}.packaging.wheel import (
    PACKAGE,
    SERVING_PACKAGES,
    SHARED_MODULES,
    staged_pyproject,
)
from {{ cookiecutter.module_name }}.packaging.wheelhouse import (
    Target,
    WheelhouseError,
    platform_tags,
    target_lock,
)
from {{ cookiecutter.module_name }}.prediction.store import (
    ModelStore,
    Pointer,
    load_served_model,
)
from {{ cookiecutter.module_name }}.registry import publish
from {{ cookiecutter.module_name }}.storage import read_json

VERSION = "v1.0.0"
TARGET = Target("manylinux_2_28_x86_64", "3.11")


def fake_download(lock: Path, folder: Path, target: Target) -> list[Path]:
    """Stands in for pip download (no network in tests): one empty wheel per pinned name."""
    folder.mkdir(parents=True)
    names = [line.split("==")[0] for line in lock.read_text("utf-8").splitlines() if "==" in line]
    wheels = [folder / f"{name.replace('-', '_')}-1.0-py3-none-any.whl" for name in names]
    for wheel in wheels:
        wheel.write_bytes(f"{target.platform} {target.python}".encode())
    return wheels


def bundle_of(settings: Settings) -> Bundle:
    return build_bundle(settings, TARGET, download=fake_download)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A small bundle-like folder (a nested file too) with its manifest."""
    root = tmp_path / "bundle"
    (root / "models/registry").mkdir(parents=True)
    (root / "params.yaml").write_text("a: 1\n", encoding="utf-8")
    (root / "models/registry/prod.json").write_text('{"version": "v1.0.0"}\n', encoding="utf-8")
    (root / manifest.MANIFEST_FILE).write_text(manifest.manifest_text(root), encoding="utf-8")
    return root


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


def test_an_untouched_folder_matches_its_manifest(folder: Path) -> None:
    assert manifest.problems(folder) == []
    listed = manifest.read_manifest(folder)
    assert sorted(listed) == ["models/registry/prod.json", "params.yaml"]


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (
            lambda root: flip_last_byte(root / "models/registry/prod.json"),
            "models/registry/prod.json: changed",
        ),
        (lambda root: (root / "params.yaml").unlink(), "params.yaml: missing"),
        (
            lambda root: (root / "models/evil.py").write_text("x", encoding="utf-8"),
            "models/evil.py: not in the manifest",
        ),
        (lambda root: (root / manifest.MANIFEST_FILE).unlink(), "MANIFEST.sha256 is missing"),
    ],
    ids=["changed-byte", "missing-file", "extra-file", "no-manifest"],
)
def test_a_tampered_folder_is_refused_naming_the_file(
    folder: Path, tamper: Callable[[Path], None], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tamper(folder)
    found = manifest.problems(folder)
    assert len(found) == 1
    assert expected in found[0]
    assert manifest.main([str(folder)]) == 1
    error = capsys.readouterr().err
    assert "REFUSED" in error
    assert expected in error


def test_the_tarball_does_not_depend_on_file_times(folder: Path, tmp_path: Path) -> None:
    write_tarball(folder, tmp_path / "first.tar.gz", epoch=315_532_800)
    for path in folder.rglob("*"):
        path.touch()
    write_tarball(folder, tmp_path / "second.tar.gz", epoch=315_532_800)
    assert (tmp_path / "first.tar.gz").read_bytes() == (tmp_path / "second.tar.gz").read_bytes()
    with tarfile.open(tmp_path / "first.tar.gz") as tar:
        members = tar.getmembers()
    assert [member.name for member in members] == sorted(member.name for member in members)
    assert {(member.mtime, member.uid, member.uname) for member in members} == {
        (315_532_800, 0, "")
    }


def test_the_wheel_ships_exactly_the_shared_modules_of_the_import_contract() -> None:
    """A new shared module must be added to both, or the installed server misses it."""
    pyproject = tomllib.loads(
        (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    )
    contract = next(
        item
        for item in pyproject["tool"]["importlinter"]["contracts"]
        if item["name"].startswith("Shared modules")
    )
    shipped = {f"{PACKAGE}.{name}" for name in SHARED_MODULES if name != "__init__"}
    assert shipped == set(contract["source_modules"])


def test_the_wheel_keeps_awkward_project_metadata_and_only_the_serving_script() -> None:
    project = {
        "name": "awkward-project",
        "version": "0.1.0",
        "description": 'Says "hi", isn\'t shy: {not jinja} \\ done\nÜnïcode',
        "readme": "README.md",
        "authors": [{"name": 'Åsa O\'Connor "the" Ñandú', "email": "a@example.com"}],
        "license": "MIT",
        "scripts": {
            "awkward-train": f"{PACKAGE}.training.__main__:main",
            "awkward-predict": f"{PACKAGE}.serving.__main__:main",
        },
    }
    build = {"requires": ["setuptools>=77"], "build-backend": "setuptools.build_meta"}
    text = staged_pyproject({"project": project, "build-system": build}, "0.1.0+model.2.0.0")
    staged = tomllib.loads(text)
    assert staged["build-system"] == build
    assert staged["project"]["version"] == "0.1.0+model.2.0.0"
    for key in ("name", "description", "authors", "license"):
        assert staged["project"][key] == project[key]
    assert "readme" not in staged["project"]
    assert staged["project"]["scripts"] == {"awkward-predict": f"{PACKAGE}.serving.__main__:main"}
    assert staged["tool"]["setuptools"]["packages"] == [
        PACKAGE,
        *(f"{PACKAGE}.{sub}" for sub in SERVING_PACKAGES),
    ]


@pytest.fixture
def released(trained: Settings, tmp_path: Path) -> Settings:
    """Settings whose model store has the trained model in prod as v1.0.0 (no git needed)."""
    settings = trained.with_paths(registry=tmp_path / "registry", bundles=tmp_path / "dist")
    store = ModelStore(settings.paths.registry)
    metadata = {**read_json(trained.paths.metadata), "version": VERSION}
    publish.export_version(store, VERSION, trained.paths.model, metadata)
    publish.write_pointer(store, Pointer(VERSION))
    return settings


def test_without_a_prod_version_there_is_nothing_to_package(
    trained: Settings, tmp_path: Path
) -> None:
    settings = trained.with_paths(registry=tmp_path / "empty", bundles=tmp_path / "dist")
    with pytest.raises(PackagingError, match=r"make promote VERSION="):
        bundle_of(settings)
    assert not (tmp_path / "dist").exists()


def test_the_bundle_serves_its_prod_model_with_only_the_serving_code(
    released: Settings, tmp_path: Path
) -> None:
    # A retrain job's folder (copies of the training data, a candidate) inside the model
    # store, the worst place for it: none of it may ride along.
    job = released.paths.registry / "retrain" / ("a" * 32)
    job.mkdir(parents=True)
    for name in ("train_data.csv", "model.skops", "status.json"):
        (job / name).write_text("x\n", encoding="utf-8")
    bundle = bundle_of(released)
    with tarfile.open(bundle.path) as tar:
        members = tar.getnames()
    assert not [name for name in members if job.name in name or name.endswith(".csv")]
    name = f"{bundle.path.name.removesuffix('.tar.gz')}"
    assert bundle.path == released.paths.bundles / f"{name}.tar.gz"
    assert name.endswith(f"-{VERSION}")
    checksum = bundle.path.with_name(f"{bundle.path.name}.sha256").read_text(encoding="utf-8")
    # Atomic writes give files the user's usual mode (umask), not mkstemp's private 0600.
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(bundle.path.stat().st_mode) == 0o666 & ~mask
    assert checksum == f"{manifest.sha256_of(bundle.path)}  {bundle.path.name}\n"
    with tarfile.open(bundle.path) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    unpacked = tmp_path / "unpacked" / name
    assert manifest.problems(unpacked) == []

    info = read_json(unpacked / "bundle.json")
    assert info["model_version"] == VERSION
    assert info["target"] == {"platform": TARGET.platform, "python": TARGET.python}
    # Every pinned requirement has its wheel inside, for the target only (no Windows-only
    # colorama); what the server reads to serve and to check drift is there too.
    lock = (unpacked / "serve.txt").read_text(encoding="utf-8")
    assert lock == target_lock(
        (Path(__file__).resolve().parents[1] / "requirements/serve.txt").read_text("utf-8"),
        TARGET,
    )
    pinned = {line.split("==")[0] for line in lock.splitlines() if "==" in line}
    assert {path.name.split("-")[0] for path in (unpacked / "wheels").iterdir()} == {
        name.replace("-", "_") for name in pinned
    }
    assert "colorama" not in pinned
    assert ";" not in lock
    assert os.access(unpacked / "run.sh", os.X_OK)
    assert os.access(unpacked / "install.sh", os.X_OK)
    version_dir = unpacked / "models/registry/versions" / VERSION
    assert (version_dir / "reference_profile.json").is_file()
    assert info["package_version"].endswith("+model.1.0.0")
    with zipfile.ZipFile(unpacked / info["wheel"]) as wheel:
        modules = {item for item in wheel.namelist() if item.endswith(".py")}
        # Read from the package at run time (GET /dashboard): it must ship too.
        assert f"{PACKAGE}/serving/dashboard.html" in wheel.namelist()
    source = Path(__file__).resolve().parents[1] / "src" / PACKAGE
    expected = {f"{PACKAGE}/{name}.py" for name in SHARED_MODULES} | {
        f"{PACKAGE}/{sub}/{path.name}"
        for sub in SERVING_PACKAGES
        for path in (source / sub).glob("*.py")
    }
    assert modules == expected

    # The bundle's own params.yaml finds the bundle's store: what the installed server loads.
    model = load_served_model(load_settings(unpacked / "params.yaml", environ={}))
    assert model.version == VERSION
    assert model.metadata["serving"]["stage"] == "prod"
    assert model.metadata["artifact"]["sha256"] == info["model_sha256"]


def test_packaging_the_same_state_twice_gives_the_same_bytes(released: Settings) -> None:
    first = bundle_of(released)
    kept = first.path.with_name("first.tar.gz")
    shutil.copyfile(first.path, kept)
    second = bundle_of(released)
    assert second.sha256 == first.sha256
    assert second.path.read_bytes() == kept.read_bytes()


LOCK = """\
# a comment
click==8.1.0 \\
    --hash=sha256:aaa
    # via flask
colorama==0.4.6 ; sys_platform == 'win32' \\
    --hash=sha256:bbb
    # via click
numpy==2.4.6 ; python_full_version < '3.12' \\
    --hash=sha256:ccc
numpy==2.5.5 ; python_full_version >= '3.12' \\
    --hash=sha256:ddd
onnxruntime==1.0 ; platform_machine != 'x86_64' or sys_platform != 'darwin' \\
    --hash=sha256:eee
"""


def test_the_lock_is_narrowed_to_the_targets_python_and_platform() -> None:
    """Markers are evaluated for the server, not for the Python running make package."""
    for python, numpy, other in (("3.11", "2.4.6", "2.5.5"), ("3.12", "2.5.5", "2.4.6")):
        narrowed = target_lock(LOCK, Target("manylinux_2_28_x86_64", python))
        assert f"numpy=={numpy} \\\n    --hash" in narrowed
        assert f"numpy=={other}" not in narrowed
        assert "colorama" not in narrowed
        assert "# via click" not in narrowed
        assert "onnxruntime==1.0 \\\n    --hash=sha256:eee" in narrowed
        assert "click==8.1.0 \\\n    --hash=sha256:aaa\n    # via flask" in narrowed
        assert ";" not in narrowed


def test_a_manylinux_target_takes_the_wheels_of_older_glibc_versions() -> None:
    tags = platform_tags(Target("manylinux_2_28_aarch64", "3.11"))
    assert tags[0] == "manylinux_2_28_aarch64"
    assert {"manylinux_2_17_aarch64", "manylinux2014_aarch64", "manylinux1_aarch64"} <= set(tags)
    assert not [tag for tag in tags if "x86_64" in tag or "_2_29_" in tag]
    with pytest.raises(WheelhouseError, match="manylinux_2_28_x86_64"):
        platform_tags(Target("win_amd64", "3.11"))


def tiny_wheel(folder: Path, name: str, text: str) -> Path:
    """A minimal pure-Python wheel (a module, METADATA, WHEEL, RECORD): what pip needs."""
    dist = f"{name}-1.0"
    files = {
        f"{name}.py": text,
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [
        f"{path},sha256="
        + base64.urlsafe_b64encode(hashlib.sha256(data.encode()).digest()).decode().rstrip("=")
        + f",{len(data.encode())}"
        for path, data in files.items()
    ]
    files[f"{dist}.dist-info/RECORD"] = "\n".join([*record, f"{dist}.dist-info/RECORD,,"]) + "\n"
    wheel = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


@pytest.mark.slow  # a new virtualenv with pip in it (about 4 s)
def test_install_sh_installs_with_pip_and_no_index_on_a_host_without_uv(tmp_path: Path) -> None:
    """The bundle's install.sh on a production host that has python3 but no uv: pip
    installs the hash-pinned dependencies from the bundle's wheels/ and the project's
    wheel, with no package index (a tiny bundle of two hand-made wheels stands in)."""
    source = Path(__file__).resolve().parents[1] / "src" / PACKAGE / "packaging"
    bundle = tmp_path / "bundle"
    (bundle / "wheels").mkdir(parents=True)
    dependency = tiny_wheel(bundle / "wheels", "tinydep", "ANSWER = 42\n")
    tiny_wheel(bundle, "tinyapp", "from tinydep import ANSWER\n")
    digest = hashlib.sha256(dependency.read_bytes()).hexdigest()
    (bundle / "serve.txt").write_text(f"tinydep==1.0 \\\n    --hash=sha256:{digest}\n", "utf-8")
    shutil.copyfile(source / "install.sh", bundle / "install.sh")
    (bundle / "install.sh").chmod(0o755)
    shutil.copyfile(source / "manifest.py", bundle / "verify.py")
    (bundle / manifest.MANIFEST_FILE).write_text(manifest.manifest_text(bundle), "utf-8")

    tools = tmp_path / "tools"  # what such a host has on PATH: no uv
    tools.mkdir()
    for name in ("bash", "dirname"):
        found = shutil.which(name)
        assert found is not None
        (tools / name).symlink_to(found)
    env = {
        "PATH": str(tools),
        "HOME": str(tmp_path),
        "PYTHON": sys.executable,
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": "http://127.0.0.1:9/",  # the discard port: nothing answers
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    venv = tmp_path / "venv"
    result = subprocess.run(
        [str(bundle / "install.sh"), str(venv)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every file matches MANIFEST.sha256" in result.stdout
    assert f"{bundle}/run.sh {venv} serve" in result.stdout
    check = [str(venv / "bin/python"), "-c", "import tinyapp; print(tinyapp.ANSWER)"]
    assert subprocess.run(check, capture_output=True, text=True, check=True).stdout == "42\n"
