"""Choose the engine that computes predictions: the ONNX copy or the scikit-learn pipeline.

``inference.runtime`` in params.yaml asks for ``auto`` (the ONNX copy when it passed its
parity gate at export, scikit-learn otherwise), ``onnx`` (the copy or nothing) or
``sklearn``. The copy is verified against the sha256 in the metadata before it is opened,
exactly like the scikit-learn artifact.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from {{ cookiecutter.module_name }}.onnx_model import (
    OnnxModel,
    OnnxModelError,
    OnnxRuntimeMissingError,
)
from {{ cookiecutter.module_name }}.schema import FeatureSchema
from {{ cookiecutter.module_name }}.storage import sha256_file

log = logging.getLogger(__name__)

RUNTIMES = ("auto", "onnx", "sklearn")


class RuntimeChoiceError(ValueError):
    """The requested runtime cannot be used for this model; the message says why."""


@dataclass(frozen=True)
class RuntimeChoice:
    """The engine in use, what was asked for and why: /metadata reports it."""

    active: str
    requested: str
    reason: str
    onnx: OnnxModel | None = None

    def describe(self) -> dict[str, str]:
        """The JSON-ready summary (without the session)."""
        return {"active": self.active, "requested": self.requested, "reason": self.reason}


SKLEARN_ONLY = RuntimeChoice("sklearn", "sklearn", "inference.runtime is sklearn")


def choose_runtime(
    model_path: Path, metadata: dict[str, Any], schema: FeatureSchema, requested: str
) -> RuntimeChoice:
    """Open the ONNX copy when asked for and usable; otherwise settle on scikit-learn.

    Raises RuntimeChoiceError when ``onnx`` is required but the copy did not pass its
    gate, and whenever the copy's file does not match its sha256 (a changed file is never
    silently replaced by another engine).
    """
    if requested not in RUNTIMES:
        raise RuntimeChoiceError(f"inference.runtime {requested!r} is not one of {RUNTIMES}")
    if requested == "sklearn":
        return SKLEARN_ONLY
    entry = metadata.get("onnx") or {}
    status = entry.get("status", "absent")
    if status != "passed":
        why = entry.get("reason") or "this model was exported without an ONNX copy"
        reason = f"the ONNX copy is {status}: {why}"
        if requested == "onnx":
            raise RuntimeChoiceError(
                f"inference.runtime is onnx but {reason}; set inference.runtime to auto or "
                "sklearn to serve with scikit-learn"
            )
        log.info("serving with scikit-learn: %s", reason)
        return RuntimeChoice("sklearn", requested, reason)
    path = Path(model_path).parent / str(entry["file"])
    if not path.is_file():
        raise RuntimeChoiceError(
            f"no ONNX copy at {path} although the metadata certifies one: restore it "
            "(dvc checkout, or make train), or set inference.runtime to sklearn"
        )
    actual = sha256_file(path)
    if actual != entry.get("sha256"):
        raise RuntimeChoiceError(
            f"ONNX copy {path} has sha256 {actual[:12]}… but its metadata expects "
            f"{str(entry.get('sha256'))[:12]}…: the file was changed or replaced; retrain "
            "with `make train`"
        )
    try:
        onnx = OnnxModel(path, schema)
    except OnnxRuntimeMissingError as error:
        if requested == "onnx":
            raise RuntimeChoiceError(f"inference.runtime is onnx but {error}") from None
        log.warning("serving with scikit-learn: %s", error)
        return RuntimeChoice("sklearn", requested, str(error))
    except OnnxModelError as error:
        raise RuntimeChoiceError(str(error)) from None
    return RuntimeChoice("onnx", requested, "the ONNX copy passed its parity gate", onnx)
