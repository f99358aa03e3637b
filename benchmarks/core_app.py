"""The ceiling of the project's own work: its validation and its model, nothing else.

Flask reads the body with orjson, the project's request validation (``parse_records``)
checks it, the served model (``LoadedModel.predict``, on its default engine) predicts, and
orjson writes the same answer as the project's. No metrics, no prediction log, no request
id, no model reload, no content-type or size checks: what is left between this app and
the project is the cost of those behaviours; what is left between it and hello is the
cost of validating and predicting at all. It runs in the baked project's environment
under the project's own gunicorn.conf.py; the package comes from BENCH_MODULE.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import orjson
from flask import Flask, Response, request


def create_app() -> Flask:
    """Serve ``POST /predict`` with the project's validation and model only."""
    module = os.environ["BENCH_MODULE"]
    settings = importlib.import_module(f"{module}.config").load_settings()
    model = importlib.import_module(f"{module}.prediction.store").load_served_model(settings)
    parse_records = importlib.import_module(f"{module}.serving.validation").parse_records
    app = Flask(__name__)

    @app.post("/predict")
    def predict() -> Any:
        features = parse_records(orjson.loads(request.get_data()), model.schema, settings.serving)
        answer = {
            "model_version": model.version,
            "request_id": "0" * 32,
            "predictions": model.predict(features),
        }
        return Response(orjson.dumps(answer), content_type="application/json")

    return app
