"""Flask application factory: ``gunicorn '{{ cookiecutter.module_name }}.serving.app:create_app()'``."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from {{ cookiecutter.module_name }}.config import Settings, load_settings
from {{ cookiecutter.module_name }}.prediction.loader import ModelLoadError
from {{ cookiecutter.module_name }}.prediction.store import (
    load_last_good,
    load_served_model,
)
from {{ cookiecutter.module_name }}.prediction_log.client import (
    PredictionLogClient,
)
from {{ cookiecutter.module_name }}.serving.api import api
from {{ cookiecutter.module_name }}.serving.dashboard import install_dashboard
from {{ cookiecutter.module_name }}.serving.metrics import install_metrics
from {{ cookiecutter.module_name }}.serving.openapi import docs
from {{ cookiecutter.module_name }}.serving.reload import install_reload
from {{ cookiecutter.module_name }}.serving.retrain import configure_retrain
from {{ cookiecutter.module_name }}.serving.validation import RequestError

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app; load and verify the model at start-up, then follow the prod pointer.

    A missing or tampered model does not stop the app: liveness stays green and
    readiness answers 503 with the reason, so an orchestrator keeps it out of rotation;
    a refused prod version with a good one before it serves that one instead.
    A promotion or rollback is picked up without a restart (see ``reload.py``).
    """
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.serving.max_body_bytes
    app.json.sort_keys = False
    install_reload(app, settings)  # before the first load: a promotion meanwhile is seen
    try:
        app.extensions["model"] = load_served_model(settings)
    except ModelLoadError as error:
        start_without_prod(app, settings, error)
    metrics = install_metrics(app)
    if settings.monitoring.log.enabled:
        app.extensions["prediction_log"] = PredictionLogClient.from_settings(
            settings, metrics.count_log_error
        )
    app.register_blueprint(api)
    app.register_blueprint(docs)
    install_dashboard(app, settings)
    configure_retrain(app)
    register_error_handlers(app)
    return app


def start_without_prod(app: Flask, settings: Settings, error: ModelLoadError) -> None:
    """The prod model was refused at start-up: serve the last good version, else nothing.

    The last good version is the newest earlier prod version that verifies: what the
    workers that refused the same swap still serve, so a restarted worker answers as they
    do (``/metadata`` shows the refused update). Without one, readiness says why.
    """
    previous = load_last_good(settings)
    if previous is None:
        log.error("model not loaded: %s", error)
        app.extensions["model_error"] = str(error)
        return
    log.error(
        "prod model refused, serving %s (the newest earlier prod version that verifies): %s",
        previous.version,
        error,
    )
    app.extensions["model"] = previous
    app.extensions["swap_error"] = str(error)


def register_error_handlers(app: Flask) -> None:
    """Every error is JSON ``{"error", "detail"}``; no stack trace ever reaches a client."""

    @app.errorhandler(RequestError)
    def client_error(error: RequestError) -> Any:
        return jsonify(error.to_json()), error.status, error.headers

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        name = (error.name or "error").lower().replace(" ", "_")
        return jsonify(error=name, detail=error.description), error.code

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Any:
        log.exception("unhandled error")
        return jsonify(error="internal_error", detail="the server failed; see its log"), 500
