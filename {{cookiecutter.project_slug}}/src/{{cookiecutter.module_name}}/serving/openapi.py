"""``GET /openapi.json``: the API's contract, generated from the same request models
that validate ``/predict`` (so the document cannot drift from the code).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from {{ cookiecutter.module_name }}.config import (
    ServingSettings,
    Settings,
)
from {{ cookiecutter.module_name }}.schema import FeatureSchema
from {{ cookiecutter.module_name }}.serving.requests import record_model

docs = Blueprint("docs", __name__)

TITLE = "{{ cookiecutter.module_name }} prediction API"
REF = "#/components/schemas/{model}"
ERROR = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "a short, stable error name"},
        "detail": {"type": "string", "description": "what was wrong and how to fix it"},
    },
}
PREDICTION = {
    "type": "object",
    "required": ["prediction"],
    "properties": {
        "prediction": {"type": "string"},
        "probabilities": {"type": "object", "additionalProperties": {"type": "number"}},
    },
}
# A regressor answers a number per record, and no probabilities.
VALUE_PREDICTION = {
    "type": "object",
    "required": ["prediction"],
    "properties": {"prediction": {"type": "number", "description": "the predicted value"}},
    "additionalProperties": False,
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
    }


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema or {"type": "object"}}},
    }


def build_openapi(schema: FeatureSchema, limits: ServingSettings, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document for a model with ``schema`` under ``limits``."""
    record = record_model(schema, limits.extra_columns).model_json_schema(ref_template=REF)
    record_ref = {"$ref": REF.format(model="Record")}
    batch = {"type": "array", "items": record_ref, "minItems": 1, "maxItems": limits.max_batch_size}
    not_ready = _error("no verified model is loaded (the detail says why)")
    unauthorized = _error("no bearer token sent")
    forbidden = _error("wrong bearer token")
    disabled = _error("retraining is disabled (no token configured), or no such job")
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": version},
        "paths": {
            "/predict": {
                "post": {
                    "summary": "Predict one record or a batch of records",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"oneOf": [record_ref, batch]}}},
                    },
                    "responses": {
                        "200": _json(
                            "one prediction per record, in order",
                            {"$ref": REF.format(model="PredictResponse")},
                        ),
                        "400": _error(
                            "malformed JSON or chunked framing, empty body or list, "
                            "a non-object record"
                        ),
                        "413": _error(
                            f"over {limits.max_batch_size} records or {limits.max_body_bytes} bytes"
                        ),
                        "415": _error("the content type is not application/json"),
                        "422": _error("a missing or unknown column, or a value of the wrong type"),
                        "503": not_ready,
                    },
                }
            },
            "/health/live": {"get": {"responses": {"200": _json("the process answers")}}},
            "/health/ready": {
                "get": {"responses": {"200": _json("a model is loaded"), "503": not_ready}}
            },
            "/metadata": {
                "get": {
                    "summary": "The served model: version, classes, schema, example, engine",
                    "parameters": [
                        {
                            "name": "full",
                            "in": "query",
                            "required": False,
                            "description": "1: also lineage, metrics, params and libraries "
                            "(needs the retrain token)",
                            "schema": {"type": "string", "enum": ["1", "0"]},
                        }
                    ],
                    "responses": {
                        "200": _json("the served model's metadata"),
                        "400": _error("full is neither 1 nor 0"),
                        "401": unauthorized,
                        "403": forbidden,
                        "404": _error("full=1 while no retrain token is configured"),
                        "503": not_ready,
                    },
                }
            },
            "/metrics": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "Prometheus text exposition format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    }
                }
            },
            "/openapi.json": {"get": {"responses": {"200": _json("this document")}}},
            "/retrain": {
                "post": {
                    "summary": "Train a candidate model out of process (never promotes it)",
                    "security": [{"bearer": []}],
                    "responses": {
                        "202": _json("the job was started", {"$ref": REF.format(model="Job")}),
                        "401": unauthorized,
                        "403": forbidden,
                        "404": disabled,
                        "409": _error("a retrain job is already running"),
                    },
                }
            },
            "/retrain/{job_id}": {
                "get": {
                    "summary": "Status of a retrain job",
                    "security": [{"bearer": []}],
                    "parameters": [
                        {
                            "name": "job_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": _json("the job's status", {"$ref": REF.format(model="Job")}),
                        "401": unauthorized,
                        "403": forbidden,
                        "404": disabled,
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Record": record,
                "Prediction": VALUE_PREDICTION if schema.is_regression else PREDICTION,
                "PredictResponse": {
                    "type": "object",
                    "required": ["model_version", "request_id", "predictions"],
                    "properties": {
                        "model_version": {"type": "string"},
                        "request_id": {
                            "type": "string",
                            "description": "The X-Request-ID header sent, if plain, else a "
                            "new id; the prediction log keys records by it.",
                        },
                        "predictions": {
                            "type": "array",
                            "items": {"$ref": REF.format(model="Prediction")},
                        },
                    },
                },
                "Job": {
                    "type": "object",
                    "required": ["job_id", "status"],
                    "properties": {
                        "job_id": {"type": "string"},
                        "status": {
                            "type": "string",
                            "enum": ["queued", "running", "succeeded", "failed"],
                        },
                    },
                },
                "Error": ERROR,
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


DASHBOARD_PATHS = {
    "/dashboard": {
        "get": {
            "summary": "The monitoring dashboard (one self-contained HTML page)",
            "responses": {
                "200": {
                    "description": "the page; it fetches /dashboard/data",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/dashboard/data": {
        "get": {
            "summary": "What the dashboard shows: model, traffic, latency, predictions, drift",
            "responses": {"200": _json("model, traffic and drift summaries")},
        }
    },
}


@docs.get("/openapi.json")
def openapi() -> Any:
    """The contract of the model being served (or, with none, of params.yaml's schema)."""
    settings: Settings = current_app.config["SETTINGS"]
    model = current_app.extensions.get("model")
    schema = model.schema if model is not None else settings.feature_schema
    version = model.version if model is not None else "no model loaded"
    document = build_openapi(schema, settings.serving, version)
    if settings.dashboard.enabled:
        document["paths"].update(DASHBOARD_PATHS)
    return jsonify(document)
