"""``GET /dashboard``: a self-contained page (inline CSS and JS, no CDN, no network beyond
this server) showing the served model, the last model changes and who made them, request
volume, latency, the prediction distribution and drift (in words, then per feature);
``GET /dashboard/data``: the JSON it shows.

The page builds its DOM with ``textContent`` only, so feature names and class labels
(user data) are text, never markup; its Content-Security-Policy allows only its own
inline script and style (by hash), so even a bug there could not run injected code.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib.resources import files
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.store import ModelStore
from {{ cookiecutter.module_name }}.serving.drift_report import load_drift
from {{ cookiecutter.module_name }}.serving.metadata import without_root
from {{ cookiecutter.module_name }}.serving.traffic import summarise

PAGE = "dashboard.html"
RECENT_CHANGES = 5
# A person as the audit log writes one ("Ann Lee <ann@x.com>"): the page shows the name only.
_EMAIL = re.compile(r"\s*<[^>]*>\s*")
PROJECT = {{ cookiecutter.project_name | tojson }}

dashboard = Blueprint("dashboard", __name__)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@cache
def page() -> tuple[bytes, str]:
    """The page (shipped in this package) and a CSP that allows exactly its inline parts."""
    html = files(__package__).joinpath(PAGE).read_text(encoding="utf-8")
    scripts = " ".join(_sha256(s) for s in re.findall(r"<script>(.*?)</script>", html, re.S))
    styles = " ".join(_sha256(s) for s in re.findall(r"<style>(.*?)</style>", html, re.S))
    policy = (
        f"default-src 'none'; script-src {scripts}; style-src {styles}; connect-src 'self'; "
        "img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return html.encode(), policy


def model_summary(settings: Settings) -> dict[str, Any]:
    """What is served: version, engine, the gate metric against its baseline; no paths."""
    model = current_app.extensions.get("model")
    if model is None:
        reason = str(current_app.extensions.get("model_error", "no model loaded"))
        # Paths as params.yaml writes them (relative): the page need not show the server's.
        return {"status": "not_loaded", "message": without_root(reason, settings.root)}
    metrics = model.metadata.get("metrics", {})
    name = metrics.get("gate", {}).get("metric")
    refused = current_app.extensions.get("swap_error")
    return {
        "status": "ready",
        "version": model.version,
        "runtime": model.runtime_choice.describe()["active"],
        "estimator": model.metadata.get("params", {}).get("model", {}).get("estimator"),
        "metric": {
            "name": name,
            "model": metrics.get("model", {}).get(name),
            "baseline": metrics.get("baseline", {}).get(name),
        },
        "rows": metrics.get("rows", {}),
        "task": model.task,
        "classes": model.metadata.get("classes", []),
        "refused_update": refused and without_root(refused, settings.root),
    }


def person_name(who: object) -> str:
    """``Ann Lee <ann@x.com>`` -> ``Ann Lee``; a bare email -> its local part."""
    name = _EMAIL.sub(" ", str(who or "")).strip()
    return name.split("@", 1)[0] if "@" in name else name or "unknown"


def recent_changes(settings: Settings) -> list[dict[str, Any]]:
    """The last promotions and rollbacks from the store's audit log, newest first: what,
    when, who (a name, never an email) and why. None readable: an empty list."""
    try:
        entries = ModelStore(settings.paths.registry).recent_changes(RECENT_CHANGES)
    except OSError:
        return []
    return [
        {
            "event": str(entry.get("event", "change")),
            "from": entry.get("from") and str(entry["from"]),
            "to": str(entry.get("to", "?")),
            "at": str(entry.get("at", "")),
            "by": person_name(entry.get("by")),
            "reason": str(entry.get("reason", "")),
            "forced": bool(entry.get("forced")),
        }
        for entry in entries
    ]


@dashboard.get("/dashboard")
def show() -> Response:
    """The dashboard page; it fetches ``dashboard/data`` and refreshes itself."""
    html, policy = page()
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = policy
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@dashboard.get("/dashboard/data")
def data() -> Any:
    """Everything the page shows, as JSON (also handy for a quick look with curl)."""
    settings: Settings = current_app.config["SETTINGS"]
    response = jsonify(
        project=PROJECT,
        refresh_seconds=settings.dashboard.refresh_seconds,
        model=model_summary(settings),
        changes=recent_changes(settings),
        traffic=summarise(current_app.extensions["metrics"].collect()),
        drift=load_drift(settings.paths.drift_report, settings.root),
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"  # JSON is never sniffed as HTML
    return response


def install_dashboard(app: Flask, settings: Settings) -> None:
    """Serve the dashboard unless ``dashboard.enabled`` is false."""
    if settings.dashboard.enabled:
        app.register_blueprint(dashboard)
