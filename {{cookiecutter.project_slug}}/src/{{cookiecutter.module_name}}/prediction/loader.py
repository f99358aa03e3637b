"""Verify a model's files against its metadata, then read them: nothing unchecked is opened.

The metadata (written by training's evaluate stage, only when the quality gate passed)
names the artifact and its sha256, and the ONNX copy's. The loader reads the metadata
once, checks the artifact's hash, reads the pipeline trusting only declared types, checks
the ONNX copy's hash when the runtime may use it, and lets ``engine.py`` choose the engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from {{ cookiecutter.module_name }}.prediction.engine import (
    RuntimeChoiceError,
    choose_runtime,
    wants_onnx_copy,
)
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel
from {{ cookiecutter.module_name }}.schema import FeatureSchema
from {{ cookiecutter.module_name }}.storage import (
    UntrustedArtifactError,
    load_pipeline,
    read_json,
    sha256_file,
)


class ModelLoadError(RuntimeError):
    """The artifact is missing, does not match its metadata, or cannot be loaded."""


def load_model(
    model_path: Path,
    metadata_path: Path,
    extra_trusted: tuple[str, ...] = (),
    runtime: str = "auto",
) -> LoadedModel:
    """Read metadata, verify the artifact's sha256 against it, then load the pipeline.

    For a model whose two files are known (the last trained one, a registry candidate);
    the store finds a version's artifact through its metadata and calls ``load_certified``.
    ``runtime`` is ``inference.runtime`` from params.yaml: ``auto`` also opens the ONNX
    copy (verified the same way) when it passed its parity gate at export.
    """
    if not Path(metadata_path).is_file():
        raise ModelLoadError(
            f"no model metadata at {metadata_path}: train and certify a model with "
            "`make train` (dvc repro); a model that failed the quality gate has none"
        )
    metadata = read_metadata(metadata_path)
    return load_certified(model_path, metadata, extra_trusted, runtime)


def read_metadata(metadata_path: Path) -> dict[str, Any]:
    """The metadata of a model, refused unless it names a version, an artifact hash and a schema."""
    try:
        metadata = read_json(metadata_path)
        if not isinstance(metadata["artifact"]["sha256"], str):
            raise TypeError("artifact.sha256 is not a string")
        FeatureSchema.model_validate(metadata["schema"])
        if not metadata.get("version"):
            raise KeyError("version")
    except (ValueError, KeyError, TypeError) as error:
        raise ModelLoadError(
            f"metadata {metadata_path} is unreadable or incomplete: {error}"
        ) from None
    return metadata


def load_certified(
    model_path: Path,
    metadata: dict[str, Any],
    extra_trusted: tuple[str, ...] = (),
    runtime: str = "auto",
) -> LoadedModel:
    """Verify and read the artifact ``metadata`` certifies (see ``read_metadata``), choose the engine."""
    _require_artifact(model_path)
    _verify(model_path, metadata["artifact"]["sha256"], "artifact")
    try:
        pipeline = load_pipeline(model_path, extra_trusted)
    except UntrustedArtifactError as error:
        raise ModelLoadError(str(error)) from None
    except Exception as error:  # a corrupt archive can fail in many ways inside skops
        raise ModelLoadError(f"artifact {model_path} cannot be loaded: {error}") from None
    schema = FeatureSchema.model_validate(metadata["schema"])
    onnx_copy = (
        _verified_onnx_copy(model_path, metadata) if wants_onnx_copy(metadata, runtime) else None
    )
    try:
        choice = choose_runtime(metadata, schema, runtime, onnx_copy)
    except RuntimeChoiceError as error:
        raise ModelLoadError(str(error)) from None
    return LoadedModel(pipeline=pipeline, metadata=metadata, schema=schema, runtime_choice=choice)


def _require_artifact(model_path: Path) -> None:
    if not Path(model_path).is_file():
        raise ModelLoadError(f"no model artifact at {model_path}: run `make train`")


def _verified_onnx_copy(model_path: Path, metadata: dict[str, Any]) -> Path:
    """The certified ONNX copy beside the artifact, once its sha256 matches the metadata.

    A changed copy is refused, never silently replaced by the other engine.
    """
    entry = metadata["onnx"]
    path = Path(model_path).parent / str(entry["file"])
    if not path.is_file():
        raise ModelLoadError(
            f"no ONNX copy at {path} although the metadata certifies one: restore it "
            "(make pull, or make train), or set inference.runtime to sklearn"
        )
    _verify(path, str(entry.get("sha256")), "ONNX copy")
    return path


def _verify(path: Path, expected: str, what: str) -> None:
    """Refuse a file whose sha256 is not the one its metadata certifies."""
    actual = sha256_file(path)
    if actual != expected:
        raise ModelLoadError(
            f"{what} {path} has sha256 {actual[:12]}… but its metadata expects "
            f"{expected[:12]}…: the file was changed or replaced; retrain with `make train`"
        )
