"""Prometheus metrics that add up across gunicorn workers: ``GET /metrics``.

Under gunicorn, ``gunicorn.conf.py`` sets ``PROMETHEUS_MULTIPROC_DIR`` before any worker
imports prometheus_client; every worker then writes its samples to files there and a
scrape, whichever worker answers it, merges all of them. Without that variable (Flask's
test client, ``make serve-dev``) each app keeps its own in-memory registry.
"""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Metric names: the dashboard (traffic.py) reads these very series back.
REQUESTS = "http_requests_total"
LATENCY = "http_request_duration_seconds"
PREDICTIONS = "predictions_total"
PREDICTED_VALUES = "predicted_value"
# Seconds; a single prediction takes milliseconds, a 1,000-row batch tens of them.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Label values no client can choose: every series costs memory in each worker and in
# Prometheus, so a method outside HTTP's registered ones (RFC 9110, plus PATCH) counts as
# "other" and a URL that matches no route as "unmatched".
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
# A regressor's predictions go into one histogram, not a counter per value (that would
# be a series per distinct number). Its buckets must fit any target's scale without
# knowing it, and stay the same across workers and model reloads: 1, 2 and 5 times each
# power of ten from 0.01 to a million, either side of zero.
_STEPS = [step * 10.0**power for power in range(-2, 7) for step in (1, 2, 5)]
VALUE_BUCKETS = (*sorted(-step for step in _STEPS), 0.0, *_STEPS)
OTHER_METHOD = "other"
UNMATCHED = "unmatched"


class Metrics:
    """The service's counters and histograms, and how to render them for a scrape."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        # In multiprocess mode values live in files, so nothing is registered in-process.
        self.registry = None if self.multiprocess else CollectorRegistry()
        self.requests = Counter(
            REQUESTS,
            "HTTP requests answered, by route, method and status code.",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            LATENCY,
            "Time to answer a request, by route.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "http_request_errors_total",
            "Requests answered with a 4xx or 5xx, by route and error name.",
            ["endpoint", "error"],
            registry=self.registry,
        )
        self.predictions = Counter(
            PREDICTIONS,
            "Records predicted, by predicted class.",
            ["prediction"],
            registry=self.registry,
        )
        # Made on a regressor's first prediction: a classifier's scrape stays as it was.
        self.predicted_values: Histogram | None = None
        self.prediction_log_errors = Counter(
            "prediction_log_errors_total",
            "Records answered but not written to the prediction log, by reason "
            "(ENOSPC: disk full, EACCES: no permission, record_too_large, ...).",
            ["reason"],
            registry=self.registry,
        )
        self._series: dict[tuple[Any, ...], Any] = {}

    def series(self, metric: Counter | Histogram, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once: prometheus_client checks the label
        values and takes a lock on every call, a measurable share of a 1-record request.
        Label values are bounded (routes, methods, statuses, classes), so is this."""
        key = (id(metric), *labels)
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = metric.labels(*labels)
        return found

    def count_predictions(self, predictions: list[dict[str, Any]]) -> None:
        """Add one to each predicted class's counter per record; a regressor's values
        go into the histogram of predicted values instead."""
        labels = [row["prediction"] for row in predictions]
        if labels and isinstance(labels[0], float):
            if self.predicted_values is None:
                self.predicted_values = Histogram(
                    PREDICTED_VALUES,
                    "Values predicted by a regression model, one observation per record.",
                    buckets=VALUE_BUCKETS,
                    registry=self.registry,
                )
            for value in labels:
                self.predicted_values.observe(value)
            return
        counts: dict[str, int] = {}  # a dict, not a Counter: cheaper for one record
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
        for label, count in counts.items():
            self.series(self.predictions, label).inc(count)

    def count_log_error(self, reason: str, records: int) -> None:
        """Records answered but not written to the prediction log, and why."""
        self.prediction_log_errors.labels(reason).inc(records)

    def scrape_registry(self) -> CollectorRegistry:
        """The registry a scrape reads: every worker's samples merged (or this app's)."""
        if self.registry is None:  # multiprocess mode
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return registry
        return self.registry

    def render(self) -> bytes:
        """The Prometheus text format of every worker's samples (or this app's)."""
        return generate_latest(self.scrape_registry())

    def collect(self) -> list[Metric]:
        """The same samples as ``render``, as metric families (the dashboard reads them)."""
        return list(self.scrape_registry().collect())


def install_metrics(app: Flask) -> Metrics:
    """Time and count every request of ``app`` and serve ``GET /metrics``."""
    metrics = Metrics()
    app.extensions["metrics"] = metrics

    @app.before_request
    def start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def record(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        # The route's pattern, not the raw path: unknown URLs must not add label values.
        rule, method, status = request.url_rule, request.method, response.status_code
        endpoint = rule.rule if rule is not None else UNMATCHED
        if method not in KNOWN_METHODS:
            method = OTHER_METHOD
        metrics.series(metrics.requests, endpoint, method, str(status)).inc()
        if started is not None:
            metrics.series(metrics.latency, endpoint).observe(time.perf_counter() - started)
        if status >= 400:
            body = response.get_json(silent=True) if response.is_json else None
            error = body.get("error") if isinstance(body, dict) else None
            metrics.errors.labels(endpoint, str(error or response.status_code)).inc()
        return response

    @app.get("/metrics")
    def scrape() -> Response:
        """Prometheus scrape endpoint (text exposition format)."""
        return Response(metrics.render(), content_type=CONTENT_TYPE_LATEST)

    return metrics
