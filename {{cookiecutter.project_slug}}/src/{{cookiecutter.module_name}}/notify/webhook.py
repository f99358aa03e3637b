"""Post a report to a webhook as JSON ``{"text": ...}``: Slack's and Teams' incoming
webhooks take this shape, and so do most chat tools and automation services."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from {{ cookiecutter.module_name }}.config import WebhookSettings
from {{ cookiecutter.module_name }}.notify.report import Report

# Chats cut long messages (Slack at 40,000 characters): stop well before, and say so.
MAX_CHARS = 30_000


class WebhookError(RuntimeError):
    """The webhook could not be reached or answered with an error."""


def payload(report: Report) -> dict[str, str]:
    """The JSON body: the subject, a blank line, then the report's text."""
    text = f"{report.subject}\n\n{report.text}"
    if len(text) > MAX_CHARS:
        where = f": the whole report is in {', '.join(report.saved)}" if report.saved else ""
        text = text[:MAX_CHARS] + f"\n… (cut at {MAX_CHARS} characters{where})"
    return {"text": text}


def host_of(url: str) -> str:
    """The URL's host only: a webhook's path is its secret, so it is never printed."""
    return urllib.parse.urlsplit(url).netloc or "the webhook"


def post_webhook(settings: WebhookSettings, report: Report) -> str:
    """POST the report; return the line that says so, or raise WebhookError."""
    body = json.dumps(payload(report), ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        settings.url,
        data=body,
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    host = host_of(settings.url)
    try:
        # Not a file:// or custom scheme: config.WebhookSettings admits only http(s) URLs.
        with urllib.request.urlopen(request, timeout=settings.timeout) as response:  # nosec B310: http(s) only
            status = response.status
    except urllib.error.HTTPError as error:
        raise WebhookError(f"{host} answered HTTP {error.code} {error.reason}") from None
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        raise WebhookError(f"{host} cannot be reached: {reason}") from None
    return f"posted to the webhook at {host} (HTTP {status})"
