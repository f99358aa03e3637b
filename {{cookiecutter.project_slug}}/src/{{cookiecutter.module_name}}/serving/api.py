"""HTTP endpoints: prediction, health probes and model metadata."""

from __future__ import annotations

import logging
import math
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from {{ cookiecutter.module_name }}.config import (
    ServingSettings,
)
from {{ cookiecutter.module_name }}.prediction.model import (
    LoadedModel,
    UnscorableRowsError,
)
from {{ cookiecutter.module_name }}.prediction_log.client import (
    PredictionLogClient,
)
from {{ cookiecutter.module_name }}.prediction_log.line_format import (
    REQUEST_ID_HEADER,
    request_id,
)
from {{ cookiecutter.module_name }}.prediction_log.protocol import (
    parse_json,
)
from {{ cookiecutter.module_name }}.serving.metadata import (
    full_metadata,
    public_metadata,
    wants_full,
    without_root,
)
from {{ cookiecutter.module_name }}.serving.retrain import require_token
from {{ cookiecutter.module_name }}.serving.validation import (
    RequestError,
    parse_records,
)

log = logging.getLogger(__name__)

api = Blueprint("api", __name__)


def current_model() -> LoadedModel:
    """The model this worker serves, or a 503 naming why there is none."""
    model = current_app.extensions.get("model")
    if model is None:
        reason = current_app.extensions.get("model_error", "no model loaded")
        root = current_app.config["SETTINGS"].root
        raise RequestError(503, "model_not_ready", without_root(reason, root))
    return model


def read_json_body(limits: ServingSettings) -> tuple[Any, bytes]:
    """The request's JSON payload and its raw body; 415 for another content type, 413
    when over the size limit, 400 when unreadable."""
    if not request.is_json:
        raise RequestError(
            415,
            "unsupported_media_type",
            f"send the records as JSON with 'Content-Type: application/json' "
            f"(got {request.mimetype or 'none'!r})",
        )
    body = read_body(limits.max_body_bytes)
    if not body or body.isspace():  # isspace: no copy of a large body, unlike strip
        raise RequestError(400, "empty_body", "the request body is empty: send JSON records")
    try:
        return parse_json(body), body
    except (ValueError, UnicodeDecodeError) as error:
        raise RequestError(400, "malformed_json", f"the body is not valid JSON: {error}") from None
    except RecursionError:  # json's decoder recurses once per level of nesting
        raise RequestError(
            400, "malformed_json", "the body nests arrays or objects too deeply: send flat records"
        ) from None


def read_body(limit: int) -> bytes:
    """The raw body, whatever its transfer encoding: 413 when it is longer than ``limit``
    bytes, 400 when its framing is broken."""
    declared = request.content_length  # None for a chunked body
    if declared is not None and declared > limit:
        raise body_too_large(f"the body has {declared} bytes", limit)
    # A chunked body declares no length: the server ends its stream (gunicorn sets
    # wsgi.input_terminated) and Werkzeug stops reading at max_content_length. Reading one
    # byte past the limit tells a body of exactly ``limit`` bytes from a longer one, which
    # would otherwise be cut at the limit and parsed.
    request.max_content_length = limit + 1
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise body_too_large(f"the body has more than {limit} bytes", limit) from None
    except Exception as error:  # the server's own error: e.g. gunicorn's InvalidChunkSize
        reason = "the connection ended early" if isinstance(error, ClientDisconnected) else error
        log.warning("unreadable request body: %.200s", reason)
        raise RequestError(
            400,
            "malformed_body",
            f"the body could not be read ({str(reason)[:200]}): send it again, with a "
            "Content-Length or a well-formed 'Transfer-Encoding: chunked'",
        ) from None
    if len(body) > limit:
        raise body_too_large(f"the body has more than {limit} bytes", limit)
    return body


def body_too_large(what: str, limit: int) -> RequestError:
    """The 413 for a body over ``serving.max_body_bytes``."""
    return RequestError(
        413,
        "body_too_large",
        f"{what}; at most {limit} per request (serving.max_body_bytes): split the batch",
    )


@api.post("/predict")
def predict() -> Any:
    """Predict one record (a JSON object) or a batch (a list of objects) of raw columns.

    The answer carries a ``request_id`` (the client's ``X-Request-ID`` when it is plain
    text, else a new one); the prediction log keys each record by it and its index, which
    is how true labels are joined later (``make scores``).
    """
    model = current_model()
    extensions = current_app.extensions
    limits: ServingSettings = current_app.config["SETTINGS"].serving
    payload, body = read_json_body(limits)
    features = parse_records(payload, model.schema, limits)
    try:
        predictions = model.predict(features)
    except UnscorableRowsError as error:
        raise RequestError(
            422,
            "unpredictable",
            f"record(s) {error.rows[:10]}: values too extreme for the model (they overflow "
            "inside its preprocessing); check their magnitudes",
        ) from None
    except ValueError as error:  # the estimator's own input checks
        raise RequestError(
            422, "unpredictable", f"the model cannot score these records: {error}"
        ) from None
    extreme = not_finite(predictions)
    if extreme:
        raise RequestError(
            422,
            "unpredictable",
            f"record(s) {extreme[:10]}: values too extreme for the model to give "
            "probabilities or a finite value; check their magnitudes",
        )
    extensions["metrics"].count_predictions(predictions)
    request_key = request_id(request.headers.get(REQUEST_ID_HEADER))
    prediction_log: PredictionLogClient | None = extensions.get("prediction_log")
    if prediction_log is not None:  # queued, never raises: a full disk is counted, not answered
        labels = [row["prediction"] for row in predictions]
        # The writer process re-reads the records from the body.
        prediction_log.submit(request_key, model.version, model.schema, body, labels)
    answer = {"model_version": model.version, "request_id": request_key, "predictions": predictions}
    response = json_response(answer)
    response.headers[REQUEST_ID_HEADER] = request_key
    return response


def json_response(answer: dict[str, Any]) -> Response:
    """``answer`` as a JSON response, encoded by orjson: a tenth of ``jsonify``'s time
    for 100 records (the template's benchmarks/json_codec.py). The answer holds only strings, numbers,
    lists and dicts with string keys, and no NaN (``not_finite`` refused those rows)."""
    return current_app.response_class(orjson.dumps(answer), content_type="application/json")


def not_finite(predictions: list[dict[str, Any]]) -> list[int]:
    """The rows whose probabilities or predicted value are not all finite. One sum per
    row: NaN and infinity carry through it, and probabilities cannot overflow it."""
    return [
        index
        for index, row in enumerate(predictions)
        if not math.isfinite(sum(row.get("probabilities", {}).values()))
        or (isinstance(row["prediction"], float) and not math.isfinite(row["prediction"]))
    ]


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
    """What is being served: version, classes, schema, example record, stage and engine.

    ``?full=1`` with the retrain token (``Authorization: Bearer <token>``) adds hash,
    lineage, metrics, params and libraries, and why the engine was chosen. If the prod
    pointer moved to a version this worker refused (it failed to load or verify),
    ``refused_update`` says so (the full view says why): the previous model still serves.
    """
    full = wants_full(request.args.get("full"))
    if full:
        require_token("the full metadata", "full_metadata_disabled")
    model = current_model()
    refused = current_app.extensions.get("swap_error")
    return jsonify(full_metadata(model, refused) if full else public_metadata(model, refused))
