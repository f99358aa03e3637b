"""HTTP endpoints: prediction, health probes and model metadata."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel
from {{ cookiecutter.module_name }}.prediction.validation import (
    RequestError,
    parse_records,
)

api = Blueprint("api", __name__)


def current_model() -> LoadedModel:
    """The model this worker serves, or a 503 naming why there is none."""
    model = current_app.extensions.get("model")
    if model is None:
        reason = current_app.extensions.get("model_error", "no model loaded")
        raise RequestError(503, "model_not_ready", reason)
    return model


def read_json_body() -> Any:
    """The request's JSON payload; 415 for another content type, 400 when unreadable."""
    if not request.is_json:
        raise RequestError(
            415,
            "unsupported_media_type",
            f"send the records as JSON with 'Content-Type: application/json' "
            f"(got {request.mimetype or 'none'!r})",
        )
    body = request.get_data(cache=True)
    if not body.strip():
        raise RequestError(400, "empty_body", "the request body is empty: send JSON records")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise RequestError(400, "malformed_json", f"the body is not valid JSON: {error}") from None


@api.post("/predict")
def predict() -> Any:
    """Predict one record (a JSON object) or a batch (a list of objects) of raw columns."""
    model = current_model()
    settings: Settings = current_app.config["SETTINGS"]
    features = parse_records(read_json_body(), model.schema, settings.serving)
    return jsonify(model_version=model.version, predictions=model.predict(features))


@api.get("/health/live")
def live() -> Any:
    """Liveness: the process answers. Never depends on the model."""
    return jsonify(status="alive")


@api.get("/health/ready")
def ready() -> Any:
    """Readiness: 200 once a verified model is loaded, 503 (with the reason) before."""
    model = current_model()
    return jsonify(status="ready", model_version=model.version)


@api.get("/metadata")
def metadata() -> Any:
    """What is being served: version, hash, schema, metrics, params, libraries, runtime."""
    model = current_model()
    return jsonify({**model.metadata, "runtime": model.runtime_choice.describe()})
