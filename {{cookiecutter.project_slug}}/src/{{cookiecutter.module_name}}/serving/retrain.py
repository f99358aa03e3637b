"""``POST /retrain`` and ``GET /retrain/<id>``: start a candidate training, report on it.

Both need ``Authorization: Bearer <token>`` with the token from the environment variable
``{{ cookiecutter.module_name | upper }}_RETRAIN_TOKEN``; without that variable they do not exist: 404
with a detail saying how to enable them. A retrain only writes a candidate into its job folder under
``paths.retrain_jobs``: promoting it to production is the registry's job, behind its gate.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from flask import Blueprint, current_app, jsonify, request, url_for

from {{ cookiecutter.module_name }}.config import (
    ENV_PREFIX,
    Settings,
)
from {{ cookiecutter.module_name }}.serving.retrain_jobs import (
    JobConflict,
    read_status,
    start_job,
    training_command,
)
from {{ cookiecutter.module_name }}.serving.validation import RequestError

TOKEN_ENV = f"{ENV_PREFIX}_RETRAIN_TOKEN"

retrain = Blueprint("retrain", __name__)


def configure_retrain(app: Any, token: str | None = None) -> None:
    """Read the token (from the environment unless given) and the command a job runs."""
    app.config.setdefault("RETRAIN_TOKEN", token or os.environ.get(TOKEN_ENV) or None)
    app.config.setdefault("RETRAIN_COMMAND", training_command())
    app.register_blueprint(retrain)


def require_token(feature: str = "retraining", disabled: str = "retrain_disabled") -> None:
    """404 (error ``disabled``) when no token is set, 401 without a bearer token, 403 with
    a wrong one. ``feature`` names what the token guards, for the 404's detail."""
    expected = current_app.config.get("RETRAIN_TOKEN")
    if not expected:
        raise RequestError(
            404,
            disabled,
            f"{feature} is disabled on this server: set {TOKEN_ENV} to a secret to enable it",
        )
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not sent.strip():
        raise RequestError(
            401,
            "unauthorized",
            "send the retrain token as 'Authorization: Bearer <token>'",
            # Which authentication scheme to use (RFC 9110), on every route the token guards.
            {"WWW-Authenticate": 'Bearer realm="retrain"'},
        )
    if not hmac.compare_digest(sent.strip().encode(), expected.encode()):
        raise RequestError(403, "forbidden", f"the bearer token does not match {TOKEN_ENV}")


@retrain.post("/retrain")
def start() -> Any:
    """Start training a candidate in a separate process; 202 with the job's id."""
    require_token()
    settings: Settings = current_app.config["SETTINGS"]
    try:
        status = start_job(
            settings.paths.retrain_jobs,
            settings.root,
            current_app.config["RETRAIN_COMMAND"],
            keep=settings.serving.retrain_jobs_kept,
        )
    except JobConflict as conflict:
        raise RequestError(
            409,
            "retrain_running",
            f"retrain job {conflict} is still running: wait for it (GET /retrain/{conflict})",
        ) from None
    location = url_for("retrain.status", job_id=status["job_id"])
    return jsonify({**status, "status_url": location}), 202, {"Location": location}


@retrain.get("/retrain/<job_id>")
def status(job_id: str) -> Any:
    """The job's status file: queued, running, succeeded (with the candidate) or failed."""
    require_token()
    settings: Settings = current_app.config["SETTINGS"]
    found = read_status(settings.paths.retrain_jobs, job_id)
    if found is None:
        raise RequestError(404, "unknown_job", f"no retrain job {job_id!r} on this server")
    return jsonify(found)
