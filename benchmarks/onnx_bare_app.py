"""The baseline of benchmarks/onnx.py: a bare Flask app that calls scikit-learn.

No validation, no schema, no metadata: JSON records into a DataFrame, ``predict_proba``,
labels from the highest probability. This is the app people write first; the served
project must beat it while doing more per request.

Run by the benchmark under the project's own gunicorn settings:
``BARE_MODEL=models/model.skops gunicorn -c gunicorn.conf.py 'onnx_bare_app:create_app()'``.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
import skops.io as sio
from flask import Flask, jsonify, request


def create_app() -> Flask:
    """Load the skops pipeline named by ``BARE_MODEL`` and serve ``POST /predict``."""
    path = os.environ["BARE_MODEL"]
    pipeline = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    classes = [str(label) for label in pipeline.classes_]
    app = Flask(__name__)

    @app.post("/predict")
    def predict() -> Any:
        payload = request.get_json()
        records = payload if isinstance(payload, list) else [payload]
        probabilities = pipeline.predict_proba(pd.DataFrame.from_records(records))
        rows = [
            {
                "prediction": classes[row.index(max(row))],
                "probabilities": dict(zip(classes, row, strict=True)),
            }
            for row in probabilities.tolist()
        ]
        return jsonify(predictions=rows)

    return app
