"""The baseline: the thinnest Flask app that serves the same pipeline's ``predict``.

No validation, no metrics, no probabilities: JSON records -> DataFrame -> predict. It runs
in the baked project's environment under the project's own gunicorn.conf.py; the module
to load the model with comes from BENCH_MODULE.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import pandas as pd
from flask import Flask, jsonify, request


def create_app() -> Flask:
    module = os.environ["BENCH_MODULE"]
    settings = importlib.import_module(f"{module}.config").load_settings()
    load_model = importlib.import_module(f"{module}.prediction.loader").load_model
    pipeline = load_model(settings.paths.model, settings.paths.metadata).pipeline
    app = Flask(__name__)

    @app.post("/predict")
    def predict() -> Any:
        payload = request.get_json()
        records = [payload] if isinstance(payload, dict) else payload
        labels = pipeline.predict(pd.DataFrame(records))
        return jsonify(predictions=[str(label) for label in labels])

    return app
