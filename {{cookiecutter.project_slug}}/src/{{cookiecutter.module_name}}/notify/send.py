"""Send a report to every configured channel; say in one line per channel what happened."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping

from {{ cookiecutter.module_name }}.config import NotifySettings
from {{ cookiecutter.module_name }}.notify.mail import (
    MailError,
    send_email,
)
from {{ cookiecutter.module_name }}.notify.report import Report
from {{ cookiecutter.module_name }}.notify.webhook import (
    WebhookError,
    post_webhook,
)

Say = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def send_report(
    settings: NotifySettings,
    report: Report,
    environ: Mapping[str, str] | None = None,
    say: Say = print,
    complain: Say = _stderr,
) -> bool:
    """Email and/or post ``report``; True if every configured channel took it.

    A failure is one line through ``complain`` naming the channel and the reason; it
    raises nothing, so the command's own verdict and exit code stand.
    """
    environ = os.environ if environ is None else environ
    report = report.titled(settings.subject_prefix)
    kept = f"; the report itself is saved in {', '.join(report.saved)}" if report.saved else ""
    if not settings.email.configured and not settings.webhook.url:
        complain(
            "notify: nothing sent: set notify.email.host and notify.email.recipients, or "
            f"notify.webhook.url, in params.yaml or the environment (docs/monitoring.md){kept}"
        )
        return False
    delivered = True
    if settings.email.configured:
        try:
            say(f"notify: {send_email(settings.email, report, environ)}")
        except MailError as error:
            complain(f"notify: email NOT sent: {error}{kept}")
            delivered = False
    if settings.webhook.url:
        try:
            say(f"notify: {post_webhook(settings.webhook, report)}")
        except WebhookError as error:
            complain(f"notify: webhook NOT posted: {error}{kept}")
            delivered = False
    return delivered
