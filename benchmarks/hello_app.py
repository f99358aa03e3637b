"""The ceiling of benchmarks/onnx.py: Flask doing no work beyond parsing the request.

It parses the JSON body as the project does and answers, per record, a constant
prediction of the same shape as the project's answer (label, probabilities, model version,
request id). Whatever the project serves below this app's rate is the cost of its own
work: validation, the model, metrics and the prediction log.

Run by the benchmark under the project's own gunicorn settings:
``gunicorn -c gunicorn.conf.py 'hello_app:create_app()'``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request

ANSWER = {
    "prediction": "Adelie",
    "probabilities": {"Adelie": 0.998, "Chinstrap": 0.001, "Gentoo": 0.001},
}


def create_app() -> Flask:
    """Serve ``POST /predict`` with one constant answer per record sent."""
    app = Flask(__name__)

    @app.post("/predict")
    def predict() -> Any:
        payload = request.get_json()
        records = payload if isinstance(payload, list) else [payload]
        return jsonify(
            model_version="hello",
            request_id="0" * 32,
            predictions=[ANSWER for _ in records],
        )

    return app
