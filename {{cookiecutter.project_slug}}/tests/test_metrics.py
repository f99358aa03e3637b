"""GET /metrics: Prometheus text format, and counts that add up across processes."""

from __future__ import annotations

import random
import string
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape, keyed by name and labels (fails on malformed text)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str) -> float:
    return sum(number for (sample, _), number in samples.items() if sample == name)


def records_predicted(samples: Samples) -> float:
    """Records counted: per class for a classifier, in the value histogram for a regressor."""
    return total(samples, "predictions_total") + value(samples, "predicted_value_bucket", le="+Inf")


def test_scrape_counts_requests_errors_latency_and_predictions(
    client: FlaskClient, example_record: dict[str, Any], model: LoadedModel
) -> None:
    answer = client.post("/predict", json=[example_record] * 3).get_json()
    client.post("/predict", json={})
    client.get("/health/live")
    client.get("/nowhere/at/all")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    samples = parse(response.get_data(as_text=True))

    ok = {"endpoint": "/predict", "method": "POST"}
    assert value(samples, "http_requests_total", **ok, status="200") == 1
    assert value(samples, "http_requests_total", **ok, status="422") == 1
    assert (
        value(samples, "http_request_errors_total", endpoint="/predict", error="missing_column")
        == 1
    )
    # Unknown paths share one label value, so scanners cannot blow up the series count.
    assert (
        value(samples, "http_requests_total", endpoint="unmatched", method="GET", status="404") == 1
    )
    assert value(samples, "http_request_duration_seconds_count", endpoint="/predict") == 2
    assert (
        value(samples, "http_request_duration_seconds_bucket", endpoint="/predict", le="+Inf") == 2
    )
    predicted = answer["predictions"][0]["prediction"]
    if model.task == "regression":  # one histogram of values, no counter per class
        assert total(samples, "predictions_total") == 0
        assert records_predicted(samples) == 3
        return
    assert value(samples, "predictions_total", prediction=predicted) == 3
    assert total(samples, "predictions_total") == 3


def test_each_app_counts_only_its_own_requests(client: FlaskClient, trained: Settings) -> None:
    """Without PROMETHEUS_MULTIPROC_DIR, a registry belongs to one app (tests stay isolated)."""
    client.get("/health/live")
    samples = parse(client.get("/metrics").get_data(as_text=True))
    assert (
        value(samples, "http_requests_total", endpoint="/health/live", method="GET", status="200")
        == 1
    )


def test_random_methods_and_paths_add_no_series(client: FlaskClient) -> None:
    """Clients choose methods and paths freely; the label values stay a fixed set."""
    rng = random.Random(19)
    routes = sorted({rule.rule for rule in client.application.url_map.iter_rules()})
    known = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]

    def send(random_requests: int) -> None:
        for method in known:  # every route with every known method: their series exist
            for route in routes:
                client.open(route.replace("<job_id>", "x"), method=method)
        for _ in range(random_requests):
            method = "".join(rng.choices(string.ascii_letters, k=rng.randint(1, 12)))
            noise = "".join(rng.choices(string.ascii_lowercase + "/", k=rng.randint(1, 30)))
            path = rng.choice([f"/{noise}", rng.choice(routes).replace("<job_id>", noise)])
            client.open(path, method=method)
            client.open(f"/{noise}", method=rng.choice(known))

    def series() -> set[tuple[str, frozenset[tuple[str, str]]]]:
        return set(parse(client.get("/metrics").get_data(as_text=True)))

    send(random_requests=100)
    first = series()
    send(random_requests=500)
    assert series() == first
    labels = [dict(pairs) for _, pairs in first]
    registered = {*known, "CONNECT", "TRACE"}
    assert {row["method"] for row in labels if "method" in row} <= {*registered, "other"}
    assert {row["endpoint"] for row in labels if "endpoint" in row} <= {*routes, "unmatched"}


WORKER = """
import sys
from {{ cookiecutter.module_name }}.config import load_settings
from {{ cookiecutter.module_name }}.serving.app import create_app

client = create_app(load_settings()).test_client()
record = client.get("/metadata").get_json()["input_example"]
for _ in range(int(sys.argv[1])):
    assert client.post("/predict", json=record).status_code == 200
"""


@pytest.mark.slow
def test_counts_add_up_across_worker_processes(
    trained: Settings, tmp_path: Path, child_environment: Callable[[Settings], dict[str, str]]
) -> None:
    """Two processes sharing PROMETHEUS_MULTIPROC_DIR, as gunicorn's workers do."""
    logged = trained.with_paths(prediction_log=tmp_path / "log" / "predictions.jsonl")
    env = {**child_environment(logged), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, n], env=env) for n in ("3", "4")]
    assert [worker.wait(timeout=120) for worker in workers] == [0, 0]
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(tmp_path))
    samples = parse(generate_latest(registry).decode())
    ok = {"endpoint": "/predict", "method": "POST", "status": "200"}
    assert value(samples, "http_requests_total", **ok) == 7
    assert records_predicted(samples) == 7
    assert value(samples, "http_request_duration_seconds_count", endpoint="/predict") == 7
