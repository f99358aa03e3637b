"""Request volume, latency and prediction counts for the dashboard, read from the metrics.

The numbers come from the very registry ``GET /metrics`` renders (``Metrics.collect``):
under gunicorn that is every worker's samples merged, so the dashboard agrees with a
Prometheus scrape whichever worker answers it, and there is no second set of counters.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from prometheus_client.metrics_core import Metric

from {{ cookiecutter.module_name }}.serving.metrics import (
    LATENCY,
    PREDICTED_VALUES,
    PREDICTIONS,
    REQUESTS,
)

PREDICT_ENDPOINT = "/predict"

Buckets = list[tuple[float, float]]  # (upper bound in seconds, cumulative count), +Inf last


def _whole(value: float) -> float | int:
    """Counters are floats in Prometheus; whole counts read better as integers."""
    return int(value) if float(value).is_integer() else value


def quantile(q: float, buckets: Buckets) -> float | None:
    """The ``q`` quantile estimated from cumulative histogram buckets, as Prometheus'
    ``histogram_quantile`` does: linear inside the bucket that holds the rank; in the
    +Inf bucket, the highest finite bound. None without observations."""
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            fraction = (rank - lower_count) / (count - lower_count)
            return lower_bound + (bound - lower_bound) * fraction
        lower_bound, lower_count = bound, count
    return lower_bound


def _latency(buckets: Buckets, count: float, seconds: float) -> dict[str, Any]:
    """Mean, p50, p95 (milliseconds) and the per-bucket counts of one endpoint's histogram."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 3)

    per_bucket, previous = [], 0.0
    for bound, cumulative in buckets:
        per_bucket.append(
            {
                "le_ms": None if math.isinf(bound) else ms(bound),
                "count": _whole(cumulative - previous),
            }
        )
        previous = cumulative
    return {
        "count": _whole(count),
        "mean_ms": ms(seconds / count) if count else None,
        "p50_ms": ms(quantile(0.5, buckets)),
        "p95_ms": ms(quantile(0.95, buckets)),
        "buckets": per_bucket,
    }


def summarise(families: Iterable[Metric]) -> dict[str, Any]:
    """Requests and errors per endpoint, latency per endpoint, and predictions per class."""
    requests: dict[str, float] = defaultdict(float)
    errors: dict[str, float] = defaultdict(float)
    buckets: dict[str, Buckets] = defaultdict(list)
    counts: dict[str, float] = defaultdict(float)
    sums: dict[str, float] = defaultdict(float)
    classes: dict[str, float] = defaultdict(float)
    values: dict[float, float] = defaultdict(float)  # a regressor's: bound -> cumulative count
    for family in families:
        for sample in family.samples:
            labels = sample.labels
            if sample.name == REQUESTS:
                requests[labels["endpoint"]] += sample.value
                if labels.get("status", "").isdigit() and int(labels["status"]) >= 400:
                    errors[labels["endpoint"]] += sample.value
            elif sample.name == f"{LATENCY}_bucket":
                buckets[labels["endpoint"]].append((float(labels["le"]), sample.value))
            elif sample.name == f"{LATENCY}_count":
                counts[labels["endpoint"]] += sample.value
            elif sample.name == f"{LATENCY}_sum":
                sums[labels["endpoint"]] += sample.value
            elif sample.name == PREDICTIONS:
                classes[labels["prediction"]] += sample.value
            elif sample.name == f"{PREDICTED_VALUES}_bucket":
                values[float(labels["le"])] += sample.value
    endpoints = [
        {
            "endpoint": endpoint,
            "requests": _whole(requests[endpoint]),
            "errors": _whole(errors[endpoint]),
            "latency": _latency(sorted(buckets[endpoint]), counts[endpoint], sums[endpoint]),
        }
        for endpoint in sorted(set(requests) | set(buckets), key=lambda e: (-requests[e], e))
    ]
    predict = next(
        (row for row in endpoints if row["endpoint"] == PREDICT_ENDPOINT),
        {"endpoint": PREDICT_ENDPOINT, "requests": 0, "errors": 0, "latency": _latency([], 0, 0)},
    )
    value_buckets = sorted(values.items())
    counted = value_buckets[-1][1] if value_buckets else 0.0
    records = sum(classes.values()) + counted
    return {
        "requests": _whole(sum(requests.values())),
        "predict": {
            **predict,
            "error_rate": predict["errors"] / predict["requests"] if predict["requests"] else None,
        },
        "endpoints": endpoints,
        "predictions": {
            "records": _whole(records),
            "classes": [
                {"label": label, "count": _whole(count), "share": count / records}
                for label, count in sorted(classes.items(), key=lambda item: (-item[1], item[0]))
            ],
            "values": _values(value_buckets, counted) if counted else None,
        },
    }


def _values(buckets: Buckets, count: float) -> dict[str, Any]:
    """A regressor's predicted values: median and 5th/95th percentiles (estimated from the
    histogram's buckets) and the count in each bucket that holds any. (prometheus_client
    gives no ``_sum`` for buckets below zero, so there is no mean.)"""
    per_bucket, previous, lower = [], 0.0, -math.inf
    for bound, cumulative in buckets:
        if cumulative > previous:
            per_bucket.append(
                {
                    "above": None if math.isinf(lower) else lower,
                    "upto": None if math.isinf(bound) else bound,
                    "count": _whole(cumulative - previous),
                }
            )
        previous, lower = cumulative, bound
    return {
        "count": _whole(count),
        "p05": _value_quantile(0.05, buckets),
        "p50": _value_quantile(0.5, buckets),
        "p95": _value_quantile(0.95, buckets),
        "buckets": per_bucket,
    }


def _value_quantile(q: float, buckets: Buckets) -> float | None:
    """``quantile`` for buckets that start below zero: linear inside the bucket holding
    the rank; at either open end, the nearest finite bound."""
    total = buckets[-1][1]
    rank = q * total
    lower_bound, lower_count = None, 0.0
    for bound, count in buckets:
        if count >= rank and count > lower_count:
            if math.isinf(bound) or lower_bound is None:
                return lower_bound if math.isinf(bound) else bound
            fraction = (rank - lower_count) / (count - lower_count)
            return lower_bound + (bound - lower_bound) * fraction
        lower_bound, lower_count = bound, count
    return lower_bound
