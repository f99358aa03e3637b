"""Email a report through an SMTP server (STARTTLS, SSL or plain, with optional login)."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from {{ cookiecutter.module_name }}.config import (
    SMTP_PASSWORD_ENV,
    EmailSettings,
)
from {{ cookiecutter.module_name }}.notify.report import Report


class MailError(RuntimeError):
    """The email could not be built or the server refused it; the message says which."""


def build_message(settings: EmailSettings, report: Report) -> EmailMessage:
    """The email: the text as its plain part, the HTML page (if any) as the alternative."""
    message = EmailMessage()
    message["Subject"] = report.subject
    message["From"] = settings.sender or settings.username or f"reports@{settings.host}"
    message["To"] = ", ".join(settings.recipients)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.host or None)
    message.set_content(report.text)
    if report.html:
        message.add_alternative(report.html, subtype="html")
    return message


def send_email(settings: EmailSettings, report: Report, environ: Mapping[str, str]) -> str:
    """Send ``report`` to every recipient; return the line that says so, or raise MailError."""
    password = environ.get(SMTP_PASSWORD_ENV, "")
    if settings.username and not password:
        raise MailError(
            f"notify.email.username is set but {SMTP_PASSWORD_ENV} is not: export the "
            "password in the environment (never in params.yaml)"
        )
    server = f"{settings.host}:{settings.port}"
    message = build_message(settings, report)
    try:
        # The server's certificate is always checked, against notify.email.ca_file when
        # set (a company's own CA), else the system's trusted authorities.
        context = ssl.create_default_context(cafile=settings.ca_file or None)
        if settings.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with smtp:
            if settings.security == "starttls":
                smtp.starttls(context=context)
            if settings.username:
                smtp.login(settings.username, password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        reason = str(error) or type(error).__name__
        raise MailError(
            f"{server} (notify.email, security {settings.security}): {reason}"
        ) from None
    count = len(settings.recipients)
    return f"emailed to {count} recipient{'s' if count != 1 else ''} via {server}"
