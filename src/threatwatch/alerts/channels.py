"""Sending one rendered alert through one channel: SMTP e-mail, a signed webhook, or an Apprise URL.

Each sender raises ``DeliveryError`` on failure (with the HTTP status where there is one) and never
retries itself: retries, back-off and bookkeeping belong to the dispatcher. Webhook and Apprise
targets are checked against ``alerts.targets`` again here, at send time (DNS may have changed since the
subscription was made); a blocked target is a permanent failure. The SMTP server is the operator's
setting, not a user's choice, so e-mail is not checked.

A webhook URL is sent as ``targets.normalise_webhook_url`` reads it, the same function that checked it
when the subscription was made. Failures say what happened: a host that does not resolve is "could not
resolve host ...", a refused connection "could not connect ...", and only a real time-out "timed out".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import urllib3

from threatwatch.alerts.messages import AlertMessage
from threatwatch.alerts.targets import (
    BlockedTargetError,
    PublicOnlyPoolManager,
    TargetURLError,
    check_host,
    parse_webhook_url,
    resolve,
    target_hosts,
)
from threatwatch.config import Settings


class DeliveryError(Exception):
    """A delivery that did not succeed; ``status_code`` when a server answered.

    ``permanent``: trying again cannot help (a target the SSRF guard blocks), so the alert fails now.
    """

    def __init__(self, reason: str, status_code: int | None = None, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.permanent = permanent


# --- webhooks (Standard Webhooks, https://www.standardwebhooks.com/) ---


def _secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign_webhook(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` keyed with the secret's decoded bytes."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_pool(size: int, *, allow_private: bool) -> urllib3.PoolManager:
    """Keep-alive connections for webhooks; urllib3 costs a third of httpx's CPU per request (measured),
    which is what lets one dispatcher deliver hundreds of alerts a second. No redirects are followed.

    Unless ``allow_private``, every new connection goes only to a checked public address
    (``targets.PublicOnlyPoolManager``); kept-alive connections were checked when they were opened.
    """
    manager = urllib3.PoolManager if allow_private else PublicOnlyPoolManager
    return manager(num_pools=64, maxsize=size, block=False, retries=False)


def send_webhook(
    pool: urllib3.PoolManager, *, url: str, secret: str, message: AlertMessage, timeout_s: float
) -> int:
    """POST the JSON payload with webhook-id/-timestamp/-signature headers; 2xx is success.

    A URL that ``targets.normalise_webhook_url`` refuses (stored before that check existed) is a
    permanent failure: it is never sent as some parser happens to read it.
    """
    try:
        parts = parse_webhook_url(url)
    except TargetURLError as exc:
        raise DeliveryError(f"refused: {exc}", permanent=True) from exc
    body = json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": "threatwatch-alerts",
        "webhook-id": message.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_webhook(
            secret=secret, message_id=message.message_id, timestamp=timestamp, body=body
        ),
    }
    try:
        response = pool.request(
            "POST",
            parts.url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(total=timeout_s),
            retries=False,
            redirect=False,
        )
    except BlockedTargetError as exc:
        raise DeliveryError(f"blocked: {exc}", permanent=True) from exc
    # urllib3 2 makes NewConnectionError (and so NameResolutionError) a ConnectTimeoutError: these two
    # come first, or a host that does not exist would read as "timed out".
    except urllib3.exceptions.NameResolutionError as exc:
        raise DeliveryError(_unresolved(parts.host or "", exc.__cause__)) from exc
    except urllib3.exceptions.NewConnectionError as exc:
        cause = exc.__cause__
        raise DeliveryError(f"could not connect to {parts.netloc}: {cause or exc}") from exc
    except urllib3.exceptions.TimeoutError as exc:
        raise DeliveryError(f"timed out after {timeout_s:g} s ({type(exc).__name__})") from exc
    except urllib3.exceptions.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
    if not 200 <= response.status < 300:
        raise DeliveryError(f"HTTP {response.status}", status_code=response.status)
    return response.status


# --- e-mail ---


def build_email(message: AlertMessage, *, sender: str, to: str) -> EmailMessage:
    """multipart/alternative: Dutch plain text first, the same as HTML second."""
    email = EmailMessage()
    email["Subject"] = message.subject
    email["From"] = sender
    email["To"] = to
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = make_msgid(idstring=message.message_id.replace(":", "."), domain="threatwatch")
    email["Content-Language"] = "nl"
    email["X-Threatwatch-Alert"] = message.message_id
    email.set_content(message.text, subtype="plain", charset="utf-8")
    email.add_alternative(message.html, subtype="html", charset="utf-8")
    return email


def send_email(*, settings: Settings, to: str, message: AlertMessage) -> None:
    """Through the operator's SMTP server; not SSRF-checked, since no user chooses that host."""
    timeout = settings.alert_channel_timeout_s
    email = build_email(message, sender=settings.smtp_from, to=to)
    context = ssl.create_default_context(cafile=settings.smtp_ca_file or None)  # verifies host and chain
    try:
        smtp: smtplib.SMTP
        if settings.smtp_security == "ssl":
            smtp = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        with smtp:
            if settings.smtp_security == "starttls":
                smtp.starttls(context=context)
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            smtp.send_message(email)
    except TimeoutError as exc:
        raise DeliveryError(f"SMTP timed out after {timeout:g} s") from exc
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", status_code=exc.smtp_code) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP {type(exc).__name__}: {exc}") from exc


# --- Apprise (chat and other services) ---


def with_apprise_timeouts(url: str, timeout_s: float) -> str:
    """Add Apprise's connect/read time-outs (``cto``/``rto``) unless the URL sets its own, and turn off
    following redirects whatever the URL says: like webhooks, a redirect could lead anywhere, past the
    target check."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.setdefault("cto", f"{timeout_s:g}")
    query.setdefault("rto", f"{timeout_s:g}")
    query["redirect"] = "no"
    return urlunsplit(parts._replace(query=urlencode(query)))


def _unresolved(host: str, cause: BaseException | None) -> str:
    """ "could not resolve host x: <the resolver's reason>" (e.g. Name or service not known)."""
    reason = cause.strerror if isinstance(cause, socket.gaierror) and cause.strerror else cause
    return f"could not resolve host {host.strip('[]')}" + (f": {reason}" if reason else "")


def send_apprise(*, url: str, message: AlertMessage, timeout_s: float, allow_private: bool) -> None:
    """Notify through Apprise; the URL's hosts are resolved first (and, unless ``allow_private``,
    checked), so a host that does not resolve fails as "could not resolve host ...", which Apprise
    itself reports only as a connection error.

    The failure reason is this call's own: Apprise's result (``AppriseResult.logs()``, kept per notify
    call) rather than a capture of the process-wide ``apprise`` logger, which in a dispatcher sending in
    parallel also holds the other alerts' lines, so one alert was recorded with another's error.
    """
    import apprise

    for host, port in target_hosts("apprise", url):
        try:
            if allow_private:
                resolve(host, port)
            else:
                check_host(host, port)
        except BlockedTargetError as exc:
            raise DeliveryError(f"blocked: {exc}", permanent=True) from exc
        except socket.gaierror as exc:
            raise DeliveryError(_unresolved(host, exc)) from exc
    notifier = apprise.Apprise()
    if not notifier.add(with_apprise_timeouts(url, timeout_s)):
        raise DeliveryError("Apprise does not understand this URL")
    result = notifier.notify(
        body=message.text,
        title=message.subject,
        body_format=apprise.NotifyFormat.TEXT,
        log_level=logging.WARNING,
    )
    if not result:
        lines = [entry.message for entry in result.logs() if entry.level != "DEBUG" and entry.message]
        raise DeliveryError("Apprise notify failed" + (f": {lines[-1]}" if lines else ""))
