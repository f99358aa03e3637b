"""GET /openapi.json: a valid OpenAPI 3.1 document that agrees with the validator."""

from __future__ import annotations

from typing import Any

import jsonschema_rs  # installed with schemathesis (requirements/dev.txt)
import pytest
import schemathesis
from flask.testing import FlaskClient

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel
from {{ cookiecutter.module_name }}.serving.app import create_app

ENDPOINTS = {
    "/predict",
    "/health/live",
    "/health/ready",
    "/metadata",
    "/metrics",
    "/openapi.json",
    "/retrain",
    "/retrain/{job_id}",
    "/dashboard",
    "/dashboard/data",
}


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_document_lists_every_endpoint(document: dict[str, Any], model: LoadedModel) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"]["version"] == model.version
    assert set(document["paths"]) == ENDPOINTS
    operations = schemathesis.openapi.from_dict(document).get_all_operations()
    assert len([operation.ok() for operation in operations]) == 10


def test_record_schema_follows_the_feature_schema(
    document: dict[str, Any], model: LoadedModel, settings: Settings
) -> None:
    record = document["components"]["schemas"]["Record"]
    assert record["required"] == model.schema.features
    assert list(record["properties"]) == model.schema.features
    for name, (low, high) in model.schema.ranges.items():
        number = record["properties"][name]["anyOf"][0]
        assert (number["minimum"], number["maximum"]) == (low, high)
    body = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    batch = body["schema"]["oneOf"][1]
    assert batch["maxItems"] == settings.serving.max_batch_size


def test_document_and_server_agree_on_what_is_valid(
    document: dict[str, Any],
    client: FlaskClient,
    example_record: dict[str, Any],
    model: LoadedModel,
) -> None:
    validator = jsonschema_rs.validator_for(document["components"]["schemas"]["Record"])
    first = model.schema.features[0]
    candidates = [
        example_record,
        dict.fromkeys(example_record),
        {**example_record, first: True},
        {**example_record, first: "text"},
        {key: value for key, value in example_record.items() if key != first},
    ]
    for name in model.schema.numeric:
        candidates.append({**example_record, name: 10**9})
        candidates.append({**example_record, name: 3})
    for name in model.schema.categorical:
        candidates.append({**example_record, name: 7})
        candidates.append({**example_record, name: 1.5})
    for record in candidates:
        accepted = client.post("/predict", json=record).status_code == 200
        assert accepted == validator.is_valid(record), record


def test_document_without_a_model_uses_params_schema(trained: Settings, tmp_path) -> None:
    empty = trained.with_paths(model=tmp_path / "none.skops", metadata=tmp_path / "none.json")
    document = create_app(empty).test_client().get("/openapi.json").get_json()
    record = document["components"]["schemas"]["Record"]
    assert record["required"] == trained.feature_schema.features
