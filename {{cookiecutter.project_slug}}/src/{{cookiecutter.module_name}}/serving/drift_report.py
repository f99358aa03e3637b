"""Read the drift report ``make drift`` writes (``paths.drift_report``) for the dashboard.

The server only reads it: a missing, unreadable or malformed file is a state the page
shows ("run make drift", or what is wrong with the file), never a server error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Part(BaseModel):
    """Extra keys are allowed (the report may grow); NaN and infinity are not (not JSON)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class Reference(_Part):
    rows: int = Field(ge=0)


class Current(_Part):
    rows: int = Field(ge=0)
    first: str | None = None
    last: str | None = None


class FeatureDrift(_Part):
    kind: Literal["numeric", "categorical"]
    psi: float
    ks_statistic: float | None = None
    ks_pvalue: float | None = None
    drifted: bool


class PredictionDrift(_Part):
    psi: float
    drifted: bool
    reference: dict[str, float]
    current: dict[str, float]


class DriftReport(_Part):
    """The part of the report the dashboard shows."""

    model_version: str
    findings: list[str] = Field(default_factory=list)
    next_steps: list[str] = Field(default_factory=list)
    reference: Reference
    current: Current
    thresholds: dict[str, Any] = Field(default_factory=dict)
    drift_detected: bool
    features: dict[str, FeatureDrift]
    prediction: PredictionDrift


def _not_json(constant: str) -> float:
    """Python writes NaN and Infinity into JSON; a browser's JSON.parse rejects them."""
    raise ValueError(f"{constant} is not JSON")


def _shown(path: Path, root: Path) -> str:
    """The path as params.yaml writes it: no absolute server paths on a web page."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def load_drift(path: Path, root: Path) -> dict[str, Any]:
    """``{"status": "ok", "report": {...}}``, or status ``missing``/``invalid`` and a message."""
    shown = _shown(path, root)
    if not path.is_file():
        return {
            "status": "missing",
            "message": f"no drift report yet: run make drift (it writes {shown})",
        }
    try:
        raw = json.loads(path.read_text(encoding="utf-8"), parse_constant=_not_json)
        report = DriftReport.model_validate(raw)
    except OSError as error:
        reason = f"cannot be read ({error.strerror or type(error).__name__})"
    except ValidationError as error:
        problems = [
            f"{'.'.join(str(part) for part in item['loc']) or '(top level)'}: {item['msg']}"
            for item in error.errors()[:5]
        ]
        reason = "does not match the drift report's schema: " + "; ".join(problems)
    except (ValueError, RecursionError):  # includes UnicodeDecodeError
        reason = "is not valid JSON (or holds NaN or infinity)"
    else:
        return {"status": "ok", "report": report.model_dump(mode="json")}
    return {
        "status": "invalid",
        "message": f"the drift report {shown} {reason}: run make drift again",
    }
