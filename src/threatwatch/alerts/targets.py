"""Where alerts may go: public hosts only, unless the operator allows private ones (the SSRF guard).

Support users choose webhook and Apprise targets, and the dispatcher calls them from inside the
network; unchecked, a support user could make the server POST to its own loopback services, the cloud
metadata endpoint (169.254.169.254) or hosts on the internal network. So a target's host is resolved
and every address it resolves to must be public: not loopback, private, link-local, multicast,
reserved, unspecified or otherwise not globally routable, in IPv4 and IPv6. An IPv6 address that
carries an IPv4 one (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``) is
judged by the IPv4 address it leads to.

The check runs twice. ``check_target`` when a subscription is made (a clear ``BlockedTargetError``
that the caller shows), and again at send time, because DNS may have changed since: webhooks connect
through ``PublicOnlyPoolManager``, whose connections resolve, check and connect to the checked address
in one step, so a rebinding DNS server gets no second answer; an Apprise URL's hosts are checked with
``check_host`` just before Apprise sends (Apprise resolves again itself, leaving a rebinding server a
window of milliseconds) and Apprise follows no redirects (``channels.send_apprise``). A host that does
not resolve is accepted when a subscription is made: it reaches nothing, and whatever it resolves to
later is judged at send time.

A webhook URL is checked as the sender reads it: ``normalise_webhook_url`` parses it with urllib3 (the
webhook sender) and returns the URL rebuilt from that parse, which is what is checked, stored, shown and,
at send time, sent. URLs that parsers read differently are refused with the reason instead of guessed at:
``http://127.0.0.1:18999\\@example.com/`` (``urllib.parse`` and the old listing saw example.com, urllib3
connects to 127.0.0.1), a percent-encoded host (``%31%32%37.0.0.1``), a user name or password, an IPv4
address not written as four decimal numbers (``0x7f.1``, ``2130706433``, ``127.1``, ``0177.0.0.1``) and
an IPv4-mapped IPv6 address (``[::ffff:127.0.0.1]``).

``THREATWATCH_ALERT_ALLOW_PRIVATE_TARGETS`` switches the guard off, for tests and for deployments whose
receivers are on loopback or the internal network.

E-mail is exempt: the SMTP server comes from the operator's settings (``THREATWATCH_SMTP_HOST``), never
from a user; a subscription's e-mail address only names a mailbox. (Apprise's ``mailto://`` names its
own SMTP server, so it is checked like any Apprise URL.)
"""

from __future__ import annotations

import re
import socket
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from typing import Any

from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import (
    ConnectTimeoutError,
    LocationParseError,
    NameResolutionError,
    NewConnectionError,
)
from urllib3.util import Url, parse_url

ALLOW_SETTING = "THREATWATCH_ALERT_ALLOW_PRIVATE_TARGETS"
_NAT64 = IPv6Network("64:ff9b::/96")


class BlockedTargetError(ValueError):
    """A target host that is, or resolves to, an address alerts may not be sent to."""


class TargetURLError(ValueError):
    """A webhook URL that is malformed or ambiguous; the message says why and never repeats the URL
    (it may carry a token, and messages end up in the flash cookie and the logs)."""


# A host label that WHATWG URL parsers (browsers, and resolvers' inet_aton) read as a number.
_NUMBER_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]{0,15}$", re.IGNORECASE)
_FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x20\x7f\\]")


def parse_webhook_url(url: str) -> Url:
    """``normalise_webhook_url``'s parse: the URL as urllib3 reads it, after the same checks."""
    raw = url.strip()
    bad = _FORBIDDEN_CHARACTERS.search(raw)
    if bad is not None:
        what = "a backslash" if bad.group() == "\\" else "a space or control character"
        raise TargetURLError(
            f"webhook URL contains {what}; URL parsers disagree on what that means, so it is refused"
            + (" (write / instead)" if bad.group() == "\\" else " (percent-encode it in the path)")
        )
    scheme, separator, rest = raw.partition("://")
    if not separator or scheme.lower() not in ("http", "https"):
        got = f"{scheme.lower()}://" if separator and _SCHEME.match(scheme) else "no http(s)://"
        raise TargetURLError(f"webhook URL must be http(s)://host/...; got {got}")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        raise TargetURLError(
            "webhook URL must not carry a user name or password (user:password@host): they would not be "
            "sent, and they hide which host is meant; the webhook signature authenticates alerts"
        )
    if "%" in authority:
        raise TargetURLError("webhook URL host must not be percent-encoded (%..); write the host as it is")
    try:
        parsed = parse_url(raw)
    except LocationParseError:
        raise TargetURLError("webhook URL cannot be parsed (a bad host or port)") from None
    host = parsed.host or ""
    if not host:
        raise TargetURLError("webhook URL must be http(s)://host/...")
    if host.startswith("["):
        try:
            address = ip_address(host[1:-1])
        except ValueError:
            raise TargetURLError("webhook URL has an invalid IPv6 address") from None
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            raise TargetURLError(
                f"webhook URL host is an IPv4-mapped IPv6 address; write the IPv4 address "
                f"{address.ipv4_mapped} itself"
            )
        host = f"[{address.compressed}]"
    else:
        labels = host.split(".")
        last = labels[-1] or (labels[-2] if len(labels) > 1 else "")
        if _NUMBER_LABEL.match(last):
            try:
                canonical = str(IPv4Address(host))
            except ValueError:
                canonical = ""
            if canonical != host:
                raise TargetURLError(
                    "webhook URL host looks like an IPv4 address but is not written as four decimal "
                    "numbers (a.b.c.d); resolvers read forms like 0x7f.1, 2130706433 or 127.1 as an "
                    "address, so write that address out"
                )
    if parsed.port == 0:
        raise TargetURLError("webhook URL port must be between 1 and 65535")
    return parsed._replace(host=host, fragment=None)


def normalise_webhook_url(url: str) -> str:
    """The webhook URL exactly as the sender (urllib3) will read it, after refusing ambiguous forms.

    Used both when a subscription is made (the result is what is checked, stored and listed) and when
    an alert is sent (so a subscription stored before this check cannot slip past it). Raises
    ``TargetURLError`` with the reason. The result is a fixed point: normalising it again changes
    nothing. The fragment is dropped (it is never sent); an internationalised host becomes its
    ``xn--`` form, which is what is resolved, and so what is shown.
    """
    return parse_webhook_url(url).url


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def non_public_reason(address: IPv4Address | IPv6Address) -> str | None:
    """What kind of non-public address this is ("a loopback address", ...), or None for a public one."""
    if isinstance(address, IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            reason = non_public_reason(inner)
            return f"{reason} (IPv4 {inner} inside IPv6)" if reason else None
    for kind, hit in (
        ("an unspecified", address.is_unspecified),
        ("a loopback", address.is_loopback),
        ("a link-local", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("a reserved", address.is_reserved),
        ("a private", address.is_private),
        ("a non-global", not address.is_global),  # e.g. 100.64.0.0/10, carrier-grade NAT
    ):
        if hit:
            return f"{kind} address"
    return None


def resolve(host: str, port: int | None = None) -> list[IPv4Address | IPv6Address]:
    """Every address ``host`` resolves to, as the system resolver sees it (so ``2130706433`` and
    ``127.1`` are 127.0.0.1, as they would be when connecting); raises ``socket.gaierror``."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except UnicodeError:
        raise socket.gaierror(socket.EAI_NONAME, f"invalid host name {host!r}") from None
    return list(dict.fromkeys(ip_address(info[4][0]) for info in infos))


def check_host(host: str, port: int | None = None) -> list[IPv4Address | IPv6Address]:
    """The addresses of ``host`` when all are public; ``BlockedTargetError`` names the first that is not.

    Raises ``socket.gaierror`` when the host does not resolve.
    """
    addresses = resolve(host, port)
    for address in addresses:
        reason = non_public_reason(address)
        if reason is not None:
            bare = host.strip("[]")
            where = f"{bare} is" if bare == str(address) else f"{bare} resolves to {address},"
            raise BlockedTargetError(
                f"{where} {reason}; alerts may only go to public hosts ({ALLOW_SETTING} allows others)"
            )
    return addresses


def _apprise_hosts(url: str) -> list[tuple[str, int | None]]:
    """The hosts an Apprise URL makes the server connect to.

    Only plugins whose URL names a host (those with a ``host`` template token: json://, ntfy://,
    matrix://, gotify://, mailto:// ...) are asked; for services at a fixed address (slack://,
    discord://, tgram:// ...) the first URL part is a token, and resolving it would send it to DNS.
    """
    import apprise

    plugin: Any = apprise.Apprise.instantiate(url)
    if plugin is None:
        return []
    hosts: list[tuple[str, int | None]] = []
    host = getattr(plugin, "host", None)
    if "host" in getattr(plugin, "template_tokens", {}) and isinstance(host, str) and host:
        port = getattr(plugin, "port", None)
        hosts.append((host, port if isinstance(port, int) else None))
    smtp_host = getattr(plugin, "smtp_host", None)  # mailto://...?smtp=host
    if isinstance(smtp_host, str) and smtp_host:
        hosts.append((smtp_host, None))
    return hosts


def target_hosts(channel: str, target: str) -> list[tuple[str, int | None]]:
    """(host, port) pairs a subscription's target makes the server connect to; none for e-mail."""
    if channel == "webhook":
        parts = parse_webhook_url(target)  # TargetURLError for a URL that is not checkable as given
        return [(parts.host or "", parts.port)]
    if channel == "apprise":
        return _apprise_hosts(target.strip())
    return []


def check_target(channel: str, target: str) -> None:
    """Raise ``BlockedTargetError`` when a host of the target resolves to a non-public address.

    A host that does not resolve passes (see the module docstring).
    """
    for host, port in target_hosts(channel, target):
        try:
            check_host(host, port)
        except socket.gaierror:
            continue


# --- send time: urllib3 connections that connect only to checked addresses ---


def _checked_new_conn(conn: HTTPConnection) -> socket.socket:
    """Resolve once, check every address, then connect to those exact addresses (in order)."""
    host = conn._dns_host
    try:
        addresses = check_host(host, conn.port)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    failure: Exception | None = None
    for address in addresses:
        # urllib3 connects to ``_dns_host``; TLS still verifies and sends SNI for ``conn.host``'s
        # original name, which is put back before ``connect`` wraps the socket.
        conn._dns_host = str(address)
        try:
            return HTTPConnection._new_conn(conn)
        except (NewConnectionError, ConnectTimeoutError) as exc:
            failure = exc
        finally:
            conn._dns_host = host
    assert failure is not None  # getaddrinfo never answers an empty list
    raise failure


class _CheckedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _checked_new_conn(self)


class _CheckedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _checked_new_conn(self)


class _CheckedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class PublicOnlyPoolManager(PoolManager):
    """A ``PoolManager`` whose new connections raise ``BlockedTargetError`` for non-public addresses.

    The error is not an ``OSError``, so urllib3 neither wraps nor retries it: the caller sees it as is.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pool_classes_by_scheme = {
            "http": _CheckedHTTPConnectionPool,
            "https": _CheckedHTTPSConnectionPool,
        }
