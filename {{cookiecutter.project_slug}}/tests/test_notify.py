"""Reports by email and webhook: a local SMTP server (aiosmtpd) and a local HTTP receiver,
both on 127.0.0.1, receive what `make retrain NOTIFY=1` and `make drift NOTIFY=1` send.

Each send is checked by its content; a failed send must be one line that names the
channel and the reason (never a webhook's secret path), and must leave the command's
verdict and exit code as they were.
"""

from __future__ import annotations

import email
import email.policy
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

import test_monitoring
from {{ cookiecutter.module_name }}.config import (
    SMTP_PASSWORD_ENV,
    EmailSettings,
    NotifySettings,
    Settings,
    WebhookSettings,
)
from {{ cookiecutter.module_name }}.monitoring import __main__ as monitoring_cli
from {{ cookiecutter.module_name }}.notify.report import Report
from {{ cookiecutter.module_name }}.notify.send import send_report
from {{ cookiecutter.module_name }}.registry import __main__ as registry_cli
from {{ cookiecutter.module_name }}.registry import report as retrain_report
from {{ cookiecutter.module_name }}.registry import retrain
from {{ cookiecutter.module_name }}.registry.gate import Comparison
from {{ cookiecutter.module_name }}.registry.notice import retrain_notice
from {{ cookiecutter.module_name }}.registry.outcome import EXIT_WORSE, Outcome

RECIPIENTS = ("ops@example.com", "analysts@example.com")
SECRET_PATH = "/services/T000/B000/very-secret-token"
monitored = test_monitoring.monitored  # the fixture: a fresh log, reports and store


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Inbox:
    """What the local SMTP server received: messages and the logins it was offered."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    port: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
        self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=True)


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    """An SMTP server on 127.0.0.1 that accepts any login (without TLS: a test server)."""
    box = Inbox(port=free_port())
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=box.port,
        authenticator=box.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Hook:
    """What the local webhook received, and the status it answers with."""

    url: str
    received: list[tuple[str, str, bytes]]
    status: int = 200


@pytest.fixture
def hook() -> Iterator[Hook]:
    """An HTTP server on 127.0.0.1 that records each POST and answers ``hook.status``."""
    received: list[tuple[str, str, bytes]] = []
    state: dict[str, Hook] = {}

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], body))
            self.send_response(state["hook"].status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    state["hook"] = Hook(f"http://127.0.0.1:{server.server_port}{SECRET_PATH}", received)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state["hook"]
    finally:
        server.shutdown()
        server.server_close()


def channels(port: int | None = None, url: str = "", **email_options: Any) -> NotifySettings:
    """Notify settings for the local servers: email if ``port``, webhook if ``url``."""
    mail = (
        EmailSettings(
            host="127.0.0.1",
            port=port,
            sender="reports@example.com",
            recipients=RECIPIENTS,
            **{"security": "none", **email_options},
        )
        if port
        else EmailSettings()
    )
    return NotifySettings(subject_prefix="demo", email=mail, webhook=WebhookSettings(url=url))


def notifying(settings: Settings, notify: NotifySettings) -> Settings:
    return settings.model_copy(update={"notify": notify})


REPORT = Report(
    subject="Retrain of model: nothing new",
    text="# Retrain of model: nothing new\n\nNothing new: the candidate is v1.0.0.\n",
    html="<!DOCTYPE html>\n<html><body><h1>Retrain of model: nothing new</h1></body></html>\n",
    saved=("reports/retrain.md",),
)


def parts(message: EmailMessage) -> tuple[str, str | None]:
    """The plain text and the HTML (if any) of a received message (SMTP sends CRLF)."""
    text = message.get_body(preferencelist=("plain",))
    page = message.get_body(preferencelist=("html",))
    assert text is not None
    html = page.get_content().replace("\r\n", "\n") if page is not None else None
    return text.get_content().replace("\r\n", "\n"), html


def test_the_email_carries_the_subject_the_text_and_the_html_page(
    inbox: Inbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assert send_report(channels(inbox.port), REPORT, environ={})
    ((recipients, message),) = inbox.messages
    assert recipients == list(RECIPIENTS)
    assert message["Subject"] == "[demo] Retrain of model: nothing new"
    assert message["From"] == "reports@example.com"
    assert message["To"] == ", ".join(RECIPIENTS)
    assert parts(message) == (REPORT.text, REPORT.html)
    assert inbox.logins == []  # no username: no login
    assert (
        capsys.readouterr().out == f"notify: emailed to 2 recipients via 127.0.0.1:{inbox.port}\n"
    )


def test_the_password_comes_from_the_environment_and_only_there(
    inbox: Inbox, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = channels(inbox.port, username="reporter")
    assert not send_report(settings, REPORT, environ={})
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"notify.email.username is set but {SMTP_PASSWORD_ENV} is not" in err
    assert "reports/retrain.md" in err  # where the report still is
    assert inbox.messages == []

    assert send_report(settings, REPORT, environ={SMTP_PASSWORD_ENV: "s3cret pass"})
    assert inbox.logins == [("reporter", "s3cret pass")]
    assert len(inbox.messages) == 1


def test_the_webhook_gets_the_report_as_json_text(
    hook: Hook, capsys: pytest.CaptureFixture[str]
) -> None:
    assert send_report(channels(url=hook.url), REPORT, environ={})
    ((path, content_type, body),) = hook.received
    assert path == SECRET_PATH
    assert content_type.startswith("application/json")
    assert json.loads(body) == {"text": f"[demo] {REPORT.subject}\n\n{REPORT.text}"}
    out = capsys.readouterr().out
    assert out.startswith("notify: posted to the webhook at 127.0.0.1:")
    assert SECRET_PATH not in out


def test_each_failed_send_is_one_line_naming_the_channel_and_no_secret(
    hook: Hook, capsys: pytest.CaptureFixture[str]
) -> None:
    hook.status = 500
    settings = channels(port=free_port(), url=hook.url)  # nothing listens on that port
    assert not send_report(settings, REPORT, environ={})
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("notify: email NOT sent: 127.0.0.1:")
    assert lines[1].startswith("notify: webhook NOT posted: 127.0.0.1:")
    assert "HTTP 500" in lines[1]
    assert all("reports/retrain.md" in line and SECRET_PATH not in line for line in lines)


def certificates(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A certificate authority made here (its PEM file, which the client is told to trust
    through notify.email.ca_file) and a server context with a certificate it signed for
    127.0.0.1. cryptography comes with the training requirements; the extensions are those
    Python's strict verification (3.13+) asks for."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)

    def certificate(subject: str, key: Any, issuer: Any, issuer_key: Any, ca: bool) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
            )
        )
        if ca:
            usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        else:
            usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        return builder.add_extension(usage, critical=True).sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    server_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test mail CA")])
    authority = certificate("Test mail CA", ca_key, ca_name, ca_key, ca=True)
    server = certificate("127.0.0.1", server_key, ca_name, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    ca_file = folder / "company-ca.pem"
    ca_file.write_bytes(authority.public_bytes(pem))
    chain = folder / "server.pem"
    chain.write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        + server.public_bytes(pem)
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain)
    return ca_file, context


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_email_over_tls_trusts_the_ca_named_in_ca_file_and_only_that(
    security: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mail server with a certificate from a company's own CA: STARTTLS (port 587) or
    SSL from the first byte (port 465). Without notify.email.ca_file the certificate is
    refused (verification is never turned off); with it the login and the mail go through
    the encrypted connection."""
    ca_file, server_context = certificates(tmp_path)
    box = Inbox(port=free_port())
    tls = (
        {"tls_context": server_context, "require_starttls": True}
        if security == "starttls"
        # The whole connection is TLS; aiosmtpd does not see it, so it must be told that
        # AUTH may be offered (its default waits for STARTTLS).
        else {"ssl_context": server_context, "auth_require_tls": False}
    )
    controller = Controller(
        box, hostname="127.0.0.1", port=box.port, authenticator=box.authenticate, **tls
    )
    controller.start()
    try:
        password = {SMTP_PASSWORD_ENV: "s3cret"}
        untrusted = channels(box.port, security=security, username="reporter")
        assert not send_report(untrusted, REPORT, environ=password)
        assert "certificate verify failed" in capsys.readouterr().err
        assert (box.logins, box.messages) == ([], [])

        trusted = channels(box.port, security=security, username="reporter", ca_file=str(ca_file))
        assert send_report(trusted, REPORT, environ=password)
        assert box.logins == [("reporter", "s3cret")]
        ((recipients, message),) = box.messages
        assert (recipients, message["Subject"]) == (list(RECIPIENTS), f"[demo] {REPORT.subject}")
        assert capsys.readouterr().out == (
            f"notify: emailed to 2 recipients via 127.0.0.1:{box.port}\n"
        )
    finally:
        controller.stop()


def test_with_nothing_configured_it_says_what_to_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert not send_report(NotifySettings(), REPORT, environ={})
    err = capsys.readouterr().err
    assert "notify.email.host and notify.email.recipients" in err
    assert "notify.webhook.url" in err


def outcome(status: str = "worse") -> Outcome:
    """A retrain outcome with the numbers a report shows (no retrain needed)."""
    comparison = Comparison(
        metric="f1_macro",
        tolerance=0.02,
        candidate_scores={"f1_macro": 0.8125, "accuracy": 0.85},
        champion_scores={"f1_macro": 0.9375, "accuracy": 0.95},
    )
    return Outcome(
        status=status,
        summary="The candidate is worse than prod: it was not registered.",
        next_steps=("Prod is untouched: v1.0.0 keeps serving.",),
        comparison=comparison,
    )


def test_the_retrain_notice_is_the_report_with_the_gate_numbers_in_the_subject(
    settings: Settings,
) -> None:
    result = outcome()
    notice = retrain_notice(settings, result)
    content = retrain_report.blocks(settings, result)
    assert notice.text == retrain_report.to_markdown(content)
    assert notice.html == retrain_report.to_html(content)
    headline = next(value for kind, value in content if kind == "h1")
    assert notice.subject == f"{headline} (f1_macro 0.8125 vs prod 0.9375)"
    assert str(settings.paths.retrain_report) in notice.saved


def test_make_retrain_notify_sends_the_report_and_keeps_its_exit_code(
    settings: Settings,
    inbox: Inbox,
    hook: Hook,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = outcome()
    configured = notifying(settings, channels(inbox.port, hook.url))
    monkeypatch.setattr(registry_cli, "load_settings", lambda: configured)
    monkeypatch.setattr(retrain, "retrain", lambda *_args, **_kwargs: result)
    assert registry_cli.main(["retrain", "--check", "--notify"]) == EXIT_WORSE
    ((_, message),) = inbox.messages
    assert message["Subject"] == f"[demo] {retrain_notice(settings, result).subject}"
    assert parts(message)[0] == retrain_notice(settings, result).text
    assert "f1_macro" in json.loads(hook.received[0][2])["text"]

    hook.status = 404  # the webhook is gone: one line, and the verdict's exit code stands
    assert registry_cli.main(["retrain", "--check", "--notify"]) == EXIT_WORSE
    err = capsys.readouterr().err
    assert "retrain: The candidate is worse than prod" in err
    assert "notify: webhook NOT posted: 127.0.0.1" in err
    assert registry_cli.main(["retrain", "--check"]) == EXIT_WORSE  # no --notify: nothing sent
    # make retrain (no --check) says the verdict in words and exits 0; the mail goes too.
    assert registry_cli.main(["retrain", "--notify"]) == 0
    assert len(inbox.messages) == 3


def test_make_drift_notify_sends_what_it_printed_and_keeps_its_exit_code(
    monitored: Settings,
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = notifying(monitored, channels(inbox.port))
    # No log yet: no verdict, and the mail says why (a silent cron job would hide it).
    code = test_monitoring.run_cli(settings, monkeypatch, "drift", "--notify")
    assert code == monitoring_cli.EXIT_UNUSABLE
    ((_, message),) = inbox.messages
    text, page = parts(message)
    assert text.startswith("error: ")
    assert text.strip() in capsys.readouterr().err  # what the command said, mailed
    assert message["Subject"] == f"[demo] Drift check: no verdict: {text.strip()}"
    assert page is None

    # The training rows themselves: no drift on any dataset (a resample may drift by chance).
    same = test_monitoring.same_as_training(settings, settings.monitoring.drift.min_records)
    limit = settings.serving.max_batch_size
    for start in range(0, len(same), limit):
        test_monitoring.serve(settings, same.iloc[start : start + limit])
    rows = len(same)
    code = test_monitoring.run_cli(settings, monkeypatch, "drift", "--notify")
    printed = capsys.readouterr().out
    assert code == monitoring_cli.EXIT_OK
    _, message = inbox.messages[1]
    report = json.loads(Path(settings.paths.drift_report).read_text(encoding="utf-8"))
    assert message["Subject"] == (
        f"[demo] No drift: model {report['model_version']}, {rows} records, "
        f"{len(report['features'])} features checked"
    )
    text, page = parts(message)
    assert printed.startswith(text)  # the mail holds what was printed, before the notify line
    assert page == settings.paths.drift_html.read_text(encoding="utf-8")
