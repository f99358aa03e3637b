"""Choose the engine that computes predictions: the ONNX copy or the scikit-learn pipeline.

``inference.runtime`` in params.yaml asks for ``auto`` (the ONNX copy when it passed its
parity gate at export, scikit-learn otherwise), ``onnx`` (the copy or nothing) or
``sklearn``. The choice is made once, when a model is loaded (``loader.py``), from files
the loader has already verified against the metadata; nothing here reads or checks a file.
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


def wants_onnx_copy(metadata: dict[str, Any], requested: str) -> bool:
    """Whether ``requested`` may run the ONNX copy the metadata certifies: the loader then
    verifies that file before ``choose_runtime`` opens it."""
    entry = metadata.get("onnx") or {}
    return requested in ("auto", "onnx") and entry.get("status") == "passed"


def choose_runtime(
    metadata: dict[str, Any],
    schema: FeatureSchema,
    requested: str,
    onnx_copy: Path | None = None,
) -> RuntimeChoice:
    """Open the ONNX copy when asked for and usable; otherwise settle on scikit-learn.

    ``onnx_copy`` is the copy's verified path, given whenever ``wants_onnx_copy`` is true.
    Raises RuntimeChoiceError when ``onnx`` is required but the copy did not pass its gate
    or cannot be opened.
    """
    if requested not in RUNTIMES:
        raise RuntimeChoiceError(f"inference.runtime {requested!r} is not one of {RUNTIMES}")
    if requested == "sklearn":
        return SKLEARN_ONLY
    if not wants_onnx_copy(metadata, requested):
        entry = metadata.get("onnx") or {}
        why = entry.get("reason") or "this model was exported without an ONNX copy"
        reason = f"the ONNX copy is {entry.get('status', 'absent')}: {why}"
        if requested == "onnx":
            raise RuntimeChoiceError(
                f"inference.runtime is onnx but {reason}; set inference.runtime to auto or "
                "sklearn to serve with scikit-learn"
            )
        log.info("serving with scikit-learn: %s", reason)
        return RuntimeChoice("sklearn", requested, reason)
    if onnx_copy is None:
        raise RuntimeChoiceError("the certified ONNX copy was not verified before opening it")
    try:
        onnx = OnnxModel(onnx_copy, schema)
    except OnnxRuntimeMissingError as error:
        if requested == "onnx":
            raise RuntimeChoiceError(f"inference.runtime is onnx but {error}") from None
        log.warning("serving with scikit-learn: %s", error)
        return RuntimeChoice("sklearn", requested, str(error))
    except OnnxModelError as error:
        raise RuntimeChoiceError(str(error)) from None
    return RuntimeChoice("onnx", requested, "the ONNX copy passed its parity gate", onnx)
