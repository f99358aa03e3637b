"""What ``GET /metadata`` tells whom: clients get what they need, operators the rest.

Anyone who reaches the server can read ``/metadata``, so it says only what a client needs
to call ``/predict``: the version, the classes, the feature schema and an example record,
the engine and the stage. The rest of the model's metadata names people (who registered
it), library versions and the server's paths, which help an attacker more than a client:
``/metadata?full=1`` shows it to whoever holds the retrain token, and the server log has
every refused update in full.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from {{ cookiecutter.module_name }}.prediction.model import LoadedModel
from {{ cookiecutter.module_name }}.serving.validation import RequestError

# Keys of the model's metadata a client may read, in the order they are shown.
PUBLIC_KEYS = ("version", "task", "classes", "schema", "input_example", "serving")
# The public side of a refused update: that it happened, not the reason (it names paths).
REFUSED = (
    "the prod pointer moved to a version this server refused to load: it still serves "
    "{version}; the reason is in the server log and in /metadata?full=1"
)
# Values of the ``full`` query parameter, and whether they ask for the full metadata.
FULL = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False, "": False}


def wants_full(value: str | None) -> bool:
    """Whether ``?full=`` asks for the full metadata; 400 for a value that is no answer."""
    try:
        return FULL[(value or "").strip().lower()]
    except KeyError:
        raise RequestError(
            400, "invalid_parameter", f"full must be 1 or 0 (got {value[:40]!r})"
        ) from None


def public_metadata(model: LoadedModel, refused: str | None) -> dict[str, Any]:
    """Version, classes, schema, example record, stage and engine: what a client needs."""
    shown = {key: model.metadata[key] for key in PUBLIC_KEYS if key in model.metadata}
    runtime = model.runtime_choice.describe()
    shown["runtime"] = {"active": runtime["active"], "requested": runtime["requested"]}
    if refused:
        shown["refused_update"] = REFUSED.format(version=model.version)
    return shown


def full_metadata(model: LoadedModel, refused: str | None) -> dict[str, Any]:
    """Everything: lineage, metrics, params, libraries, why the engine and an update."""
    served = {**model.metadata, "runtime": model.runtime_choice.describe()}
    return {**served, "refused_update": refused} if refused else served


def without_root(reason: str, root: Path) -> str:
    """``reason`` with the project folder's absolute path left out: paths as params.yaml
    writes them, for answers anyone may read."""
    return reason.replace(f"{root}/", "")
