"""The dashboard rendered by a real headless browser (Chromium), with data and without.

The app is served over HTTP from a thread; Chromium loads /dashboard, runs its script
(which fetches /dashboard/data) and prints the resulting DOM, which is read here. The
browser's console goes to its stderr: any message from the page (a script error, a
Content-Security-Policy refusal) fails the test.

Needs Chromium (Debian: ``apt-get install chromium``) or Google Chrome; without one the
tests skip locally, but fail when the CI environment variable is set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel
from {{ cookiecutter.module_name }}.prediction.store import ModelStore, Pointer
from {{ cookiecutter.module_name }}.registry import publish
from {{ cookiecutter.module_name }}.serving.app import create_app
from {{ cookiecutter.module_name }}.serving.dashboard import PROJECT
from {{ cookiecutter.module_name }}.storage import read_json
from test_dashboard import moved

SERVED = "v1.0.0"  # the version the dashboard test puts in prod

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    # Virtual time runs the page's timers and waits for its fetch, then stops.
    "--virtual-time-budget=5000",
    "--dump-dom",
)
# A class label and a feature name that are markup: the page must show them as text.
XSS_LABEL = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
XSS_FEATURE = "<b>sex</b>"
NO_VALUE = "\u2013"  # the en dash the page shows for a missing number


@pytest.fixture(scope="module")
def browser() -> str:
    """The browser's executable: $CHROMIUM, else the first of BROWSERS on PATH."""
    found = os.environ.get("CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    if found:
        return found
    reason = (
        "no Chromium or Chrome found (tried $CHROMIUM and "
        + ", ".join(BROWSERS)
        + "): install it, e.g. sudo apt-get install chromium (make browser does it)"
    )
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI must run the browser tests: {reason}")
    pytest.skip(reason)


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """Serve ``app`` over HTTP on a free loopback port from a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


class Page(HTMLParser):
    """The text inside each element that has an id, the body's attributes, every tag, and
    the width of each bar (``fill``) by the ids around it."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.body: dict[str, str | None] = {}
        self.tags: list[str] = []
        self.bars: dict[str, list[float]] = {}
        self._open: list[str | None] = []
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "body":
            self.body = dict(attrs)
        attributes = dict(attrs)
        if "fill" in (attributes.get("class") or "").split():
            width = re.search(r"width:\s*([\d.]+)%", attributes.get("style") or "")
            for element_id in filter(None, self._open):
                self.bars.setdefault(element_id, []).append(float(width[1]) if width else -1.0)
        if tag in {"br", "hr", "img", "input", "link", "meta", "source", "wbr"}:
            return  # void elements have no end tag
        element_id = dict(attrs).get("id")
        self._open.append(element_id)
        if element_id:
            self.text.setdefault(element_id, "")

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for element_id in filter(None, self._open):
            self.text[element_id] += data + " "


def render(browser: str, url: str, profile: Path) -> tuple[Page, str]:
    """Load ``url`` in headless Chromium; return the DOM after the script ran, and the
    page's console messages."""
    result = subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={profile}", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    return Page(result.stdout), "\n".join(console)


def assert_rendered_cleanly(page: Page, console: str) -> None:
    assert page.body.get("data-state") == "ready", page.body
    assert "data-error" not in page.body, page.body["data-error"]
    assert console == ""


def post(url: str, records: list[dict[str, Any]]) -> list[str]:
    request = urllib.request.Request(
        f"{url}/predict",
        data=json.dumps(records).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # nosec B310: loopback http URL
        return [row["prediction"] for row in json.load(response)["predictions"]]


def test_dashboard_shows_model_traffic_predictions_and_drift(
    browser: str,
    trained: Settings,
    model: LoadedModel,
    example_record: dict[str, Any],
    tmp_path: Path,
) -> None:
    report = {
        "model_version": SERVED,
        "reference": {"rows": 258},
        "current": {"rows": 37, "first": "2026-01-01T00:00:00+00:00", "last": None},
        "thresholds": {"psi": 0.2},
        "drift_detected": True,
        "features": {
            "bill_length_mm": {
                "kind": "numeric",
                "psi": 0.42,
                "ks_statistic": 0.3,
                "ks_pvalue": 0.0001,
                "drifted": True,
            },
            XSS_FEATURE: {
                "kind": "categorical",
                "psi": 0.01,
                "ks_statistic": None,
                "ks_pvalue": None,
                "drifted": False,
            },
        },
        "prediction": {"psi": 0.05, "drifted": False, "reference": {}, "current": {}},
        "findings": [f"{XSS_FEATURE} moved up: its median is 2 in live requests against 1."],
        "next_steps": ["Retrain on fresh data with `make retrain`."],
    }
    (tmp_path / "drift.json").write_text(json.dumps(report), encoding="utf-8")
    # The store holds the rollback below, so it must also hold prod: a store whose audit
    # log records a move but has no pointer is not served at all.
    store = ModelStore(tmp_path / "store")
    metadata = {**read_json(trained.paths.metadata), "version": SERVED}
    publish.export_version(store, SERVED, trained.paths.model, metadata)
    publish.write_pointer(store, Pointer(SERVED))
    change = {"event": "rollback", "at": "2026-01-02T09:30:00+00:00", "by": "Ann Lee <ann@x.org>"}
    change |= {"from": "v2.0.0", "to": "v1.0.0", "reason": XSS_LABEL, "forced": False}
    store.audit_path.write_text(json.dumps(change) + "\n", encoding="utf-8")
    app = create_app(trained.with_paths(drift_report=tmp_path / "drift.json", registry=store.root))
    other = moved(example_record, model)
    regression = model.task == "regression"
    with serving(app) as url:
        predicted = post(url, [example_record]) + post(url, [other, other]) + post(url, [other])
        if not regression:  # a regressor's page shows value ranges, never a label
            # No trained model predicts markup; the counter is the one /predict increments.
            app.extensions["metrics"].count_predictions([{"prediction": XSS_LABEL}])
        page, console = render(browser, f"{url}/dashboard", tmp_path / "profile")

    assert_rendered_cleanly(page, console)
    assert page.text["title"].strip() == f"{PROJECT} \u00b7 model dashboard"
    assert page.text["model-version"].strip() == SERVED
    assert page.text["predict-requests"].strip() == "3"
    assert page.text["records"].strip() == str(len(predicted) + (0 if regression else 1))
    assert page.text["error-rate"].strip() == "0.0%"
    if regression:  # a histogram of predicted values: its bars' counts add up to the records
        assert "class-shares" not in page.text
        assert "Predicted values: median" in page.text["predictions"]
        counts = re.findall(r"\((\d+)\)", page.text["value-buckets"])
        assert sum(int(n) for n in counts) == len(predicted)
    for label in set() if regression else set(predicted):
        share = predicted.count(label) / (len(predicted) + 1)
        assert f"{label} {share * 100:.1f}% ({predicted.count(label)})" in page.text["class-shares"]
    assert page.text["latency-p50"].strip().endswith(" ms")
    assert page.text["latency-p95"].strip().endswith(" ms")
    # The findings in words come before the table; the changes name people, not emails.
    assert page.text["drift-findings"].strip() == report["findings"][0]
    assert page.text["drift-next-steps"].strip() == report["next_steps"][0]
    assert " ".join(page.text["change-list"].split()) == (
        f"rolled back to v1.0.0 (was v2.0.0) by Ann Lee · 2026-01-02 09:30 UTC · {XSS_LABEL}"
    )
    drift = page.text["drift-table"]
    assert "bill_length_mm numeric 0.420 0.300 0.0001 drifted" in drift
    assert f"{XSS_FEATURE} categorical 0.010 {NO_VALUE} {NO_VALUE} stable" in drift
    assert "(predictions)" in drift
    # The bars scale to the largest PSI (0.42), also when the report names no psi_alert.
    assert page.bars["drift-table"] == pytest.approx(
        [100.0, 100 * 0.01 / 0.42, 100 * 0.05 / 0.42], abs=0.01
    )
    # Markup in user data is shown as text: no element was made of it, no handler ran.
    assert XSS_LABEL in (page.text["change-list"] if regression else page.text["class-shares"])
    assert "img" not in page.tags
    assert "b" not in page.tags
    assert "data-pwned" not in page.body


def test_dashboard_without_requests_or_drift_report_shows_empty_states(
    browser: str, trained: Settings, model: LoadedModel, tmp_path: Path
) -> None:
    settings = trained.with_paths(drift_report=tmp_path / "drift.json")
    settings = settings.model_copy(
        update={"dashboard": settings.dashboard.model_copy(update={"refresh_seconds": 1})}
    )
    app = create_app(settings)
    with serving(app) as url:
        page, console = render(browser, f"{url}/dashboard", tmp_path / "profile")
        polled = app.extensions["metrics"].collect()

    assert_rendered_cleanly(page, console)
    assert page.text["model-version"].strip() == model.version
    assert page.text["predict-requests"].strip() == "0"
    assert page.text["error-rate"].strip() == NO_VALUE
    assert "No /predict requests yet." in page.text["latency"]
    assert "No predictions yet." in page.text["predictions"]
    assert "no drift report yet: run make drift" in page.text["drift"]
    # Only the page's own load was counted (its data request is counted after answering).
    assert "/dashboard 1 0" in page.text["endpoints"]
    assert "/predict" not in page.text["endpoints"]
    assert "refreshes every 1 s" in page.text["status"]
    # The page polls /dashboard/data every refresh_seconds (virtual time runs 5 s).
    fetches = [
        sample.value
        for family in polled
        for sample in family.samples
        if sample.name == "http_requests_total" and sample.labels["endpoint"] == "/dashboard/data"
    ]
    assert sum(fetches) >= 3


def test_dashboard_without_a_model_and_with_a_broken_drift_report(
    browser: str, trained: Settings, tmp_path: Path
) -> None:
    (tmp_path / "drift.json").write_text("{not json", encoding="utf-8")
    settings = trained.with_paths(
        drift_report=tmp_path / "drift.json",
        model=tmp_path / "none.skops",
        metadata=tmp_path / "none.json",
    )
    with serving(create_app(settings)) as url:
        page, console = render(browser, f"{url}/dashboard", tmp_path / "profile")

    assert_rendered_cleanly(page, console)
    assert "No model is served" in page.text["model"]
    assert "drift.json is not valid JSON" in page.text["drift"]
