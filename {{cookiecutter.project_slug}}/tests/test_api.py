"""The HTTP API through Flask's test client: good requests, bad requests, probes."""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.engine import SKLEARN_ONLY
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel
from {{ cookiecutter.module_name }}.serving.app import create_app
from {{ cookiecutter.module_name }}.serving.retrain import TOKEN_ENV


def assert_json_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error", "detail"}
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def test_predict_one_record(client: FlaskClient, example_record: dict, model: LoadedModel) -> None:
    response = client.post("/predict", json=example_record)
    assert response.status_code == 200
    body = response.get_json()
    assert body["model_version"] == model.version
    assert len(body["predictions"]) == 1
    prediction = body["predictions"][0]
    if model.task == "regression":  # a number, no probabilities
        assert set(prediction) == {"prediction"}
        assert isinstance(prediction["prediction"], float)
        return
    assert prediction["prediction"] in model.metadata["classes"]
    assert set(prediction["probabilities"]) == set(model.metadata["classes"])


def test_predict_a_batch(client: FlaskClient, example_record: dict) -> None:
    response = client.post("/predict", json=[example_record, example_record])
    assert response.status_code == 200
    assert len(response.get_json()["predictions"]) == 2


def test_health_probes(client: FlaskClient, model: LoadedModel) -> None:
    assert client.get("/health/live").get_json() == {"status": "alive"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.get_json()["model_version"] == model.version


def test_metadata_names_version_schema_and_example(client: FlaskClient, model: LoadedModel) -> None:
    body = client.get("/metadata").get_json()
    assert body["version"] == model.version
    assert body["schema"]["target"] == model.schema.target
    assert body["input_example"] == model.metadata["input_example"]
    assert body["runtime"]["active"] in ("onnx", "sklearn")


TOKEN = "metadata-token"
PERSON = "Ann O'Hara <ann@example.com>"


@pytest.fixture
def registered_app(trained: Settings) -> Flask:
    """Serving a version whose lineage names a person, after refusing an update whose
    reason names a server path; the retrain token is set."""
    app = create_app(trained)
    model = app.extensions["model"]
    lineage = {"registered_by": PERSON, "git_commit": "0" * 40}
    served = {**model.metadata, "lineage": lineage, "serving": {"source": "registry"}}
    app.extensions["model"] = dataclasses.replace(model, metadata=served)
    app.extensions["swap_error"] = (
        f"artifact {trained.root}/models/registry/versions/v3.0.0/model.skops does not match"
    )
    app.config.update(RETRAIN_TOKEN=TOKEN)
    return app


def test_public_metadata_is_what_a_client_needs(
    registered_app: Flask, trained: Settings, model: LoadedModel
) -> None:
    response = registered_app.test_client().get("/metadata")
    body = response.get_json()
    keys = {"version", "task", "schema", "input_example", "serving", "runtime", "refused_update"}
    if model.task == "classification":  # a regressor has no classes
        keys.add("classes")
    assert set(body) == keys
    assert body["task"] == model.task
    assert set(body["runtime"]) == {"active", "requested"}
    text = response.get_data(as_text=True)
    assert "ann@example.com" not in text
    assert str(trained.root) not in text
    assert "scikit-learn" not in text  # no library versions
    assert "/metadata?full=1" in body["refused_update"]


def test_full_metadata_needs_the_retrain_token(registered_app: Flask, model: LoadedModel) -> None:
    client = registered_app.test_client()
    refused = assert_json_error(client.get("/metadata?full=1"), 401)
    assert refused["error"] == "unauthorized"
    assert client.get("/metadata?full=1").headers["WWW-Authenticate"].startswith("Bearer")
    wrong = {"Authorization": "Bearer not-the-token"}
    assert_json_error(client.get("/metadata?full=1", headers=wrong), 403)
    assert_json_error(client.get("/metadata?full=maybe"), 400)
    right = {"Authorization": f"Bearer {TOKEN}"}
    body = client.get("/metadata?full=1", headers=right).get_json()
    assert body["lineage"]["registered_by"] == PERSON
    assert body["libraries"] == model.metadata["libraries"]
    assert "model" in body["metrics"]
    assert "sha256" in body["artifact"]
    assert "reason" in body["runtime"]
    assert body["refused_update"] == registered_app.extensions["swap_error"]
    assert "lineage" not in client.get("/metadata?full=0", headers=right).get_json()


def test_full_metadata_is_disabled_without_a_token(
    trained: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    client = create_app(trained).test_client()
    response = client.get("/metadata?full=1", headers={"Authorization": "Bearer guess"})
    body = assert_json_error(response, 404)
    assert body["error"] == "full_metadata_disabled"
    assert TOKEN_ENV in body["detail"]


def test_not_ready_reason_names_no_server_path(trained: Settings) -> None:
    absent = trained.root / "models" / "absent-for-this-test.json"
    client = create_app(trained.with_paths(metadata=absent)).test_client()
    for path in ("/health/ready", "/metadata"):
        body = assert_json_error(client.get(path), 503)
        assert "models/absent-for-this-test.json" in body["detail"]
        assert str(trained.root) not in body["detail"]


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        ({"data": "{not json", "content_type": "application/json"}, 400, "malformed_json"),
        ({"data": "", "content_type": "application/json"}, 400, "empty_body"),
        ({"data": "a=1", "content_type": "application/x-www-form-urlencoded"}, 415, None),
        ({"json": []}, 400, "empty_batch"),
        ({"json": "just a string"}, 400, "invalid_body"),
        ({"json": [1, 2]}, 400, "invalid_record"),
        ({"json": {}}, 422, "missing_column"),
        ({"data": "[" * 100_000 + "]" * 100_000, "content_type": "application/json"}, 400, None),
        (
            {"data": '{"a":' * 50_000 + "1" + "}" * 50_000, "content_type": "application/json"},
            400,
            None,
        ),
        ({"data": "[" + "1" * 5000 + "]", "content_type": "application/json"}, 400, None),
    ],
)
def test_bad_requests_get_json_4xx(
    client: FlaskClient, kwargs: dict, status: int, error: str | None
) -> None:
    body = assert_json_error(client.post("/predict", **kwargs), status)
    if error:
        assert body["error"] == error


def test_wrong_type_is_422_naming_the_field(
    client: FlaskClient, example_record: dict, model: LoadedModel
) -> None:
    if not model.schema.numeric:
        pytest.skip("the schema has no numeric column")
    name = model.schema.numeric[0]
    body = assert_json_error(client.post("/predict", json={**example_record, name: "x"}), 422)
    assert name in body["detail"]


def with_serving(settings: Settings, **changes: Any) -> Settings:
    """Settings with some ``serving`` limits changed."""
    return settings.model_copy(update={"serving": settings.serving.model_copy(update=changes)})


def test_body_over_the_limit_is_413(trained: Settings, example_record: dict) -> None:
    client = create_app(with_serving(trained, max_body_bytes=1024)).test_client()
    body = assert_json_error(client.post("/predict", json=[example_record] * 200), 413)
    assert body["error"] == "body_too_large"
    assert "serving.max_body_bytes" in body["detail"]


# A chunked request as gunicorn hands it over: no Content-Length, a stream the server ends.
CHUNKED = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
TERMINATED = {"wsgi.input_terminated": True}


def post_chunked(client: FlaskClient, body: bytes, stream: Any = None) -> Any:
    environ = {**TERMINATED, "wsgi.input": stream} if stream is not None else TERMINATED
    return client.post("/predict", data=body, headers=CHUNKED, environ_overrides=environ)


def test_chunked_body_over_the_limit_is_413_even_if_its_start_is_valid(
    trained: Settings, example_record: dict
) -> None:
    limit = 1024
    client = create_app(with_serving(trained, max_body_bytes=limit)).test_client()
    record = json.dumps(example_record).encode()
    exactly = record + b" " * (limit - len(record))  # valid JSON of exactly the limit
    assert post_chunked(client, exactly).status_code == 200
    body = assert_json_error(post_chunked(client, exactly + b" "), 413)
    assert body["error"] == "body_too_large"
    assert "serving.max_body_bytes" in body["detail"]
    assert_json_error(post_chunked(client, json.dumps([example_record] * 200).encode()), 413)


class BrokenFraming(io.RawIOBase):
    """A body stream that fails as a WSGI server's does on a malformed chunk."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise RuntimeError("Invalid chunk size: 'zz'")  # not an OSError, like gunicorn's


class ClientGone(BrokenFraming):
    def readinto(self, buffer: Any) -> int:
        raise OSError("connection reset by peer")


@pytest.mark.parametrize("stream", [BrokenFraming, ClientGone])
def test_unreadable_chunked_body_is_400_not_500(
    client: FlaskClient, stream: type[io.RawIOBase], caplog: pytest.LogCaptureFixture
) -> None:
    body = assert_json_error(post_chunked(client, b"", stream()), 400)
    assert body["error"] == "malformed_body"
    assert "Traceback" not in caplog.text
    assert not [record for record in caplog.records if record.exc_info]


def test_batch_over_the_limit_is_413(trained: Settings, example_record: dict) -> None:
    client = create_app(with_serving(trained, max_batch_size=2)).test_client()
    assert client.post("/predict", json=[example_record] * 2).status_code == 200
    body = assert_json_error(client.post("/predict", json=[example_record] * 3), 413)
    assert body["error"] == "batch_too_large"
    assert "serving.max_batch_size" in body["detail"]


def test_errors_name_the_record_and_the_column(
    client: FlaskClient, example_record: dict, model: LoadedModel
) -> None:
    name = model.schema.features[0]
    bad = {**example_record, name: {"nested": 1}}
    body = assert_json_error(client.post("/predict", json=[example_record, bad]), 422)
    assert body["error"] == "wrong_type"
    assert f"record 1: column {name!r}" in body["detail"]
    assert "record 0" not in body["detail"]


def test_missing_columns_are_listed_per_record(
    client: FlaskClient, example_record: dict, model: LoadedModel
) -> None:
    first, last = model.schema.features[0], model.schema.features[-1]
    partial = {key: value for key, value in example_record.items() if key not in (first, last)}
    body = assert_json_error(client.post("/predict", json=[example_record, partial]), 422)
    assert body["error"] == "missing_column"
    assert f"record 1 lacks required column(s) [{first!r}, {last!r}]" in body["detail"]


@pytest.mark.parametrize("value", [True, "12.5", [1]])
def test_numbers_are_strict(
    client: FlaskClient, example_record: dict, model: LoadedModel, value: Any
) -> None:
    if not model.schema.numeric:
        pytest.skip("the schema has no numeric column")
    name = model.schema.numeric[0]
    body = assert_json_error(client.post("/predict", json={**example_record, name: value}), 422)
    assert body["error"] == "wrong_type"
    assert name in body["detail"]


def test_errors_echo_only_a_short_part_of_huge_values(
    client: FlaskClient, example_record: dict, model: LoadedModel
) -> None:
    if not model.schema.numeric:
        pytest.skip("the schema has no numeric column")
    name = model.schema.numeric[0]
    nested: Any = 1
    for _ in range(500):
        nested = [nested]
    for value in ("x" * 100_000, nested, {"key": list(range(10_000))}):
        body = assert_json_error(client.post("/predict", json={**example_record, name: value}), 422)
        assert name in body["detail"]
        assert len(body["detail"]) < 300


def test_non_finite_numbers_are_refused(
    client: FlaskClient, example_record: dict, model: LoadedModel
) -> None:
    if not model.schema.numeric:
        pytest.skip("the schema has no numeric column")
    name = model.schema.numeric[0]
    text = json.dumps({**example_record, name: float("nan")})  # Python writes NaN
    response = client.post("/predict", data=text, content_type="application/json")
    body = assert_json_error(response, 422)
    assert name in body["detail"]


def test_values_outside_the_schema_ranges_are_refused(
    client: FlaskClient, example_record: dict, model: LoadedModel
) -> None:
    if not model.schema.ranges:
        pytest.skip("the schema has no ranges")
    name, (low, high) = next(iter(model.schema.ranges.items()))
    inside = client.post("/predict", json={**example_record, name: low})
    assert inside.status_code == 200
    body = assert_json_error(client.post("/predict", json={**example_record, name: high + 1}), 422)
    assert body["error"] == "out_of_range"
    assert name in body["detail"]


def test_unknown_route_and_method_are_json(client: FlaskClient) -> None:
    assert_json_error(client.get("/nowhere"), 404)
    assert_json_error(client.get("/predict"), 405)


def test_without_a_model_ready_is_503_and_live_is_200(trained: Settings, tmp_path) -> None:
    empty = trained.with_paths(model=tmp_path / "none.skops", metadata=tmp_path / "none.json")
    client = create_app(empty).test_client()
    assert client.get("/health/live").status_code == 200
    body = assert_json_error(client.get("/health/ready"), 503)
    assert "make train" in body["detail"]
    assert_json_error(client.post("/predict", json={}), 503)


def test_tampered_artifact_is_refused(trained: Settings, tmp_path) -> None:
    tampered = tmp_path / "model.skops"
    tampered.write_bytes(trained.paths.model.read_bytes() + b"x")
    client = create_app(trained.with_paths(model=tampered)).test_client()
    body = assert_json_error(client.get("/health/ready"), 503)
    assert "sha256" in body["detail"]


class NoProbabilities:
    """A stand-in estimator whose probabilities overflowed (NaN)."""

    classes_ = np.array(["a", "b"])

    def predict(self, features: Any) -> np.ndarray:
        return np.array(["a"] * len(features))

    def predict_proba(self, features: Any) -> np.ndarray:
        return np.full((len(features), 2), np.nan)


class NoValues:
    """A stand-in regressor whose predicted values overflowed (NaN)."""

    def predict(self, features: Any) -> np.ndarray:
        return np.full(len(features), np.nan)


def test_non_finite_probabilities_or_values_are_422_not_invalid_json(
    trained: Settings, model: LoadedModel, example_record: dict
) -> None:
    app = create_app(trained)
    # The fake pipeline must be what computes predictions: pin the scikit-learn engine.
    fake = NoValues() if model.task == "regression" else NoProbabilities()
    app.extensions["model"] = dataclasses.replace(model, pipeline=fake, runtime_choice=SKLEARN_ONLY)
    body = assert_json_error(app.test_client().post("/predict", json=[example_record] * 2), 422)
    assert body["error"] == "unpredictable"
    assert "[0, 1]" in body["detail"]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the point of it
def test_rows_that_overflow_inside_the_pipeline_are_422_naming_them(
    trained: Settings, model: LoadedModel, example_record: dict
) -> None:
    if not model.schema.numeric:
        pytest.skip("the schema has no numeric column")
    name = model.schema.numeric[0]
    # A pipeline whose preprocessing multiplies by 10: 1e308 overflows to infinity.
    pipeline = make_pipeline(
        FunctionTransformer(lambda frame: frame[[name]].to_numpy(dtype="float64") * 10),
        LogisticRegression(),
    ).fit(pd.DataFrame({name: [1.0, 2.0, 3.0, 4.0]}), ["a", "a", "b", "b"])
    unbounded = model.schema.model_copy(update={"ranges": {}})
    app = create_app(trained)
    app.extensions["model"] = dataclasses.replace(
        model, pipeline=pipeline, schema=unbounded, runtime_choice=SKLEARN_ONLY
    )
    records = [example_record, {**example_record, name: 1e308}]
    body = assert_json_error(app.test_client().post("/predict", json=records), 422)
    assert body["error"] == "unpredictable"
    assert "record(s) [1]" in body["detail"]
