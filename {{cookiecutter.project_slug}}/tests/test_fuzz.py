"""Fuzz the API from its own /openapi.json: valid and invalid requests, never a 5xx.

Schemathesis generates requests for every documented operation, both conforming to the
schema and deliberately violating it, and checks each answer against the document.
Slow (about a minute): run with `pytest -m slow`.
"""

from __future__ import annotations

import sys
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.serving.app import create_app

pytestmark = pytest.mark.slow

MIN_REQUESTS = 1000
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_generated_requests_never_get_a_server_error(trained: Settings) -> None:
    app = create_app(trained)
    # Retraining enabled, so its 401/403 paths are fuzzed too; no generated request
    # knows the token, and the command would do nothing anyway.
    app.config.update(RETRAIN_TOKEN="fuzz-token", RETRAIN_COMMAND=[sys.executable, "-c", "pass"])
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    strategies = [
        operation.as_strategy(generation_mode=mode)
        for operation in operations
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    ]
    statuses: Counter[int] = Counter()

    @given(case=st.one_of(strategies))
    @settings(
        max_examples=MIN_REQUESTS + 200,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def request_anything(case: schemathesis.Case) -> None:
        response = case.call_and_validate(checks=CHECKS)
        statuses[response.status_code] += 1

    request_anything()
    assert sum(statuses.values()) >= MIN_REQUESTS, statuses
    assert not [status for status in statuses if status >= 500], statuses
    assert statuses[200] > 0, statuses  # some requests were valid predictions
