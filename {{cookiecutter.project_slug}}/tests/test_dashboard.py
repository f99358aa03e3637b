"""GET /dashboard and /dashboard/data: the numbers match what was sent, empty and broken
states are answers (never a 500), and the page is self-contained behind a strict CSP.

The page itself, rendered by a real browser, is tested in test_dashboard_browser.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel
from {{ cookiecutter.module_name }}.prediction.store import ModelStore
from {{ cookiecutter.module_name }}.serving.app import create_app
from {{ cookiecutter.module_name }}.serving.traffic import quantile


def drift_report(model_version: str, **changes: Any) -> dict[str, Any]:
    """A drift report in the schema ``make drift`` writes."""
    report = {
        "model_version": model_version,
        "reference": {"rows": 258},
        "current": {"rows": 40, "first": "2026-01-01T00:00:00+00:00", "last": None},
        "thresholds": {"psi": 0.2, "ks_pvalue": 0.05},
        "drift_detected": True,
        "features": {
            "bill_length_mm": {
                "kind": "numeric",
                "psi": 0.31,
                "ks_statistic": 0.2,
                "ks_pvalue": 0.001,
                "drifted": True,
            },
            "island": {
                "kind": "categorical",
                "psi": 0.01,
                "ks_statistic": None,
                "ks_pvalue": None,
                "drifted": False,
            },
        },
        "prediction": {
            "psi": 0.05,
            "drifted": False,
            "reference": {"Adelie": 0.5, "Gentoo": 0.5},
            "current": {"Adelie": 0.4, "Gentoo": 0.6},
        },
    }
    return {**report, **changes}


def dashboard_settings(trained: Settings, folder: Path, **dashboard: Any) -> Settings:
    settings = trained.with_paths(drift_report=folder / "drift.json")
    return settings.model_copy(
        update={"dashboard": settings.dashboard.model_copy(update=dashboard)}
    )


def data(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/dashboard/data")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def moved(record: dict[str, Any], model: LoadedModel) -> dict[str, Any]:
    """The record with its numeric values moved (to the middle of the schema's range, or
    up a tenth), so its prediction may differ from the record's: any dataset."""
    other = dict(record)
    for name in model.schema.numeric:
        value = record.get(name)
        if name in model.schema.ranges:
            low, high = model.schema.ranges[name]
            other[name] = (low + high) / 2
        elif isinstance(value, int | float) and not isinstance(value, bool):
            other[name] = value * 1.1
    return other


def test_numbers_match_what_was_sent_and_the_metrics_scrape(
    trained: Settings, tmp_path: Path, example_record: dict[str, Any], model: LoadedModel
) -> None:
    client = create_app(dashboard_settings(trained, tmp_path)).test_client()
    other = moved(example_record, model)
    batches = [[example_record], [example_record, other], [other] * 3, [example_record]]
    predicted: Counter[str] = Counter()
    for batch in batches:
        response = client.post("/predict", json=batch)
        assert response.status_code == 200
        predicted.update(row["prediction"] for row in response.get_json()["predictions"])
    assert client.post("/predict", json={}).status_code == 422
    client.get("/health/live")

    shown = data(client)
    traffic = shown["traffic"]
    assert traffic["predict"]["requests"] == len(batches) + 1
    assert traffic["predict"]["errors"] == 1
    assert traffic["predict"]["error_rate"] == pytest.approx(1 / (len(batches) + 1))
    assert traffic["requests"] == len(batches) + 2
    assert traffic["predictions"]["records"] == sum(predicted.values()) == 7
    if model.task == "regression":  # a histogram of values, no classes
        values = traffic["predictions"]["values"]
        assert traffic["predictions"]["classes"] == []
        assert sum(bucket["count"] for bucket in values["buckets"]) == 7
    else:
        shares = {
            row["label"]: (row["count"], row["share"]) for row in traffic["predictions"]["classes"]
        }
        assert shares == {label: (n, pytest.approx(n / 7)) for label, n in predicted.items()}
    latency = traffic["predict"]["latency"]
    assert latency["count"] == len(batches) + 1
    assert sum(bucket["count"] for bucket in latency["buckets"]) == latency["count"]
    assert 0 < latency["p50_ms"] <= latency["p95_ms"]
    assert latency["mean_ms"] > 0
    assert shown["model"]["version"] == model.version
    gate = model.metadata["metrics"]["gate"]["metric"]
    assert shown["model"]["metric"]["model"] == model.metadata["metrics"]["model"][gate]

    # The same registry /metrics renders: the scrape (taken after) holds the same sums.
    scrape = client.get("/metrics").get_data(as_text=True)
    samples = [s for f in text_string_to_metric_families(scrape) for s in f.samples]
    seconds = sum(
        s.value
        for s in samples
        if s.name == "http_request_duration_seconds_sum" and s.labels["endpoint"] == "/predict"
    )
    assert latency["mean_ms"] == pytest.approx(seconds / latency["count"] * 1000, abs=1e-3)


def test_empty_state_before_any_request_or_drift_report(trained: Settings, tmp_path: Path) -> None:
    shown = data(create_app(dashboard_settings(trained, tmp_path)).test_client())
    traffic = shown["traffic"]
    assert traffic["requests"] == 0
    assert traffic["endpoints"] == []
    assert traffic["predict"]["requests"] == 0
    assert traffic["predict"]["error_rate"] is None
    assert traffic["predict"]["latency"]["p50_ms"] is None
    assert traffic["predictions"] == {"records": 0, "classes": [], "values": None}
    assert shown["drift"]["status"] == "missing"
    assert "run make drift" in shown["drift"]["message"]
    assert shown["refresh_seconds"] == trained.dashboard.refresh_seconds


def test_without_a_model_the_dashboard_still_answers(trained: Settings, tmp_path: Path) -> None:
    settings = dashboard_settings(trained, tmp_path).with_paths(
        model=tmp_path / "none.skops", metadata=tmp_path / "none.json"
    )
    client = create_app(settings).test_client()
    assert client.get("/dashboard").status_code == 200
    model = data(client)["model"]
    assert model["status"] == "not_loaded"
    assert "make train" in model["message"]


def test_a_refused_update_is_shown_without_server_paths(trained: Settings, tmp_path: Path) -> None:
    app = create_app(dashboard_settings(trained, tmp_path))
    app.extensions["swap_error"] = f"artifact {trained.root}/models/registry/v3/model.skops"
    refused = data(app.test_client())["model"]["refused_update"]
    assert refused == "artifact models/registry/v3/model.skops"


def test_a_drift_report_is_shown(trained: Settings, tmp_path: Path, model: LoadedModel) -> None:
    said = ["bill_length_mm moved up: its median is 48.5 in live requests against 44.7."]
    steps = ["Look at the data: `tail -n 5 logs/predictions.jsonl`."]
    report = drift_report(model.version, findings=said, next_steps=steps)
    (tmp_path / "drift.json").write_text(json.dumps(report), encoding="utf-8")
    drift = data(create_app(dashboard_settings(trained, tmp_path)).test_client())["drift"]
    assert drift["status"] == "ok"
    assert drift["report"]["features"] == report["features"]
    assert drift["report"]["prediction"] == report["prediction"]
    assert drift["report"]["current"]["rows"] == 40
    # The sentences the page opens with (tests/test_dashboard_browser.py sees them first).
    assert (drift["report"]["findings"], drift["report"]["next_steps"]) == (said, steps)


BROKEN = {
    "not JSON": b"{not json",
    "not UTF-8": b"\xff\xfe\x00",
    "nested too deeply": b"[" * 100_000,
    "a list": b"[]",
    "missing keys": json.dumps({"model_version": "v1"}).encode(),
    "a PSI that is text": json.dumps(
        drift_report("v1", features={"x": {"kind": "numeric", "psi": "high", "drifted": True}})
    ).encode(),
    "an unknown kind": json.dumps(
        drift_report("v1", features={"x": {"kind": "text", "psi": 0.1, "drifted": False}})
    ).encode(),
    "NaN": json.dumps(
        drift_report("v1", features={"x": {"kind": "numeric", "psi": math.nan, "drifted": False}})
    ).encode(),
    "infinity in a threshold": json.dumps(
        drift_report("v1", thresholds={"psi": math.inf})
    ).encode(),
}


@pytest.mark.parametrize("content", BROKEN.values(), ids=BROKEN.keys())
def test_an_invalid_drift_report_is_a_message_not_a_500(
    trained: Settings, tmp_path: Path, content: bytes
) -> None:
    (tmp_path / "drift.json").write_bytes(content)
    response = (
        create_app(dashboard_settings(trained, tmp_path)).test_client().get("/dashboard/data")
    )
    assert response.status_code == 200
    drift = response.get_json()["drift"]
    assert drift["status"] == "invalid"
    assert "drift.json" in drift["message"]
    assert "make drift" in drift["message"]
    assert str(tmp_path) not in drift["message"]  # no server paths on a web page
    json.loads(response.get_data(as_text=True))  # strict JSON: no NaN reached the page


def test_schema_problems_name_the_key(trained: Settings, tmp_path: Path) -> None:
    (tmp_path / "drift.json").write_bytes(BROKEN["a PSI that is text"])
    drift = data(create_app(dashboard_settings(trained, tmp_path)).test_client())["drift"]
    assert "features.x.psi" in drift["message"]


def sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_page_is_self_contained_behind_a_strict_policy(client: FlaskClient) -> None:
    response = client.get("/dashboard")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    # No CDN, fonts or images: nothing outside this server is referenced.
    assert not re.search(r"""(src|href)\s*=|@import|url\(""", html)
    assert "dashboard/data" in html
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["connect-src"] == "'self'"
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert scripts
    assert styles
    assert policy["script-src"].split() == [sha256(script) for script in scripts]
    assert policy["style-src"].split() == [sha256(style) for style in styles]
    assert "unsafe" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # Data reaches the DOM as text only.
    assert "innerHTML" not in html
    assert "insertAdjacentHTML" not in html
    assert "document.write" not in html


def test_markup_in_labels_stays_data_in_json(client: FlaskClient) -> None:
    """The JSON carries labels verbatim; it is never served as something a browser renders."""
    label = "<img src=x onerror=alert(1)>"
    client.application.extensions["metrics"].count_predictions([{"prediction": label}])
    response = client.get("/dashboard/data")
    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_json()["traffic"]["predictions"]["classes"][0]["label"] == label


def test_disabled_dashboard_has_no_routes(trained: Settings, tmp_path: Path) -> None:
    client = create_app(dashboard_settings(trained, tmp_path, enabled=False)).test_client()
    assert client.get("/dashboard").status_code == 404
    assert client.get("/dashboard/data").status_code == 404
    assert "/dashboard" not in client.get("/openapi.json").get_json()["paths"]


INF = float("inf")


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        # 2 observations in (1, 2.5] ms and 2 in (2.5, 5] ms: interpolated inside the bucket.
        (0.5, [(0.001, 0), (0.0025, 2), (0.005, 4), (INF, 4)], 0.0025),
        (0.95, [(0.001, 0), (0.0025, 2), (0.005, 4), (INF, 4)], 0.0025 + 0.0025 * 0.9),
        (0.5, [(0.001, 2), (INF, 2)], 0.0005),
        # Beyond the last finite bound, Prometheus answers that bound.
        (0.95, [(0.001, 0), (0.01, 1), (INF, 4)], 0.01),
        (0.5, [(0.001, 0), (INF, 0)], None),
        (0.5, [], None),
    ],
)
def test_quantile_from_histogram_buckets(
    q: float, buckets: list[tuple[float, float]], expected: float | None
) -> None:
    assert quantile(q, buckets) == (None if expected is None else pytest.approx(expected))


def test_the_last_model_changes_show_newest_first_with_names_not_emails(
    trained: Settings, tmp_path: Path
) -> None:
    settings = dashboard_settings(trained, tmp_path).with_paths(registry=tmp_path / "store")
    shown = data(create_app(settings).test_client())
    assert shown["changes"] == []  # no audit log yet: an empty list, never an error
    audit = ModelStore(settings.paths.registry).audit_path
    audit.parent.mkdir(parents=True)
    people = ["Ann Lee <ann@example.com>", "bob@example.com", "Chloé O'Neil", ""]
    lines = [
        json.dumps(
            {
                "event": "rollback" if number % 3 == 2 else "promote",
                "at": f"2026-01-0{number + 1}T09:30:00+00:00",
                "by": people[number % len(people)],
                "from": f"v{number}.0.0" if number else None,
                "to": f"v{number + 1}.0.0",
                "reason": f"change {number}",
                "forced": number == 6,
            }
        )
        for number in range(7)
    ]
    audit.write_text("\n".join(lines) + '\n{"event": "promo', encoding="utf-8")  # a cut line
    changes = data(create_app(settings).test_client())["changes"]
    assert [change["to"] for change in changes] == [
        "v7.0.0",
        "v6.0.0",
        "v5.0.0",
        "v4.0.0",
        "v3.0.0",
    ]
    assert [change["by"] for change in changes] == [
        "Chloé O'Neil",
        "bob",
        "Ann Lee",
        "unknown",
        "Chloé O'Neil",
    ]
    assert changes[0] == {
        "event": "promote",
        "from": "v6.0.0",
        "to": "v7.0.0",
        "at": "2026-01-07T09:30:00+00:00",
        "by": "Chloé O'Neil",
        "reason": "change 6",
        "forced": True,
    }
    assert changes[1]["event"] == "rollback"
    assert "@" not in json.dumps(changes)
