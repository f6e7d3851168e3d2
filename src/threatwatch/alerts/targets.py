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
in one step, so a rebinding DNS server gets no second answer; Apprise URLs are checked with
``check_target`` just before Apprise sends (Apprise resolves again itself, leaving a rebinding server a
window of milliseconds) and Apprise follows no redirects (``channels.send_apprise``). A host that does
not resolve is accepted when a subscription is made: it reaches nothing, and whatever it resolves to
later is judged at send time.

``THREATWATCH_ALERT_ALLOW_PRIVATE_TARGETS`` switches the guard off, for tests and for deployments whose
receivers are on loopback or the internal network.

E-mail is exempt: the SMTP server comes from the operator's settings (``THREATWATCH_SMTP_HOST``), never
from a user; a subscription's e-mail address only names a mailbox. (Apprise's ``mailto://`` names its
own SMTP server, so it is checked like any Apprise URL.)
"""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from typing import Any
from urllib.parse import urlsplit

from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

ALLOW_SETTING = "THREATWATCH_ALERT_ALLOW_PRIVATE_TARGETS"
_NAT64 = IPv6Network("64:ff9b::/96")


class BlockedTargetError(ValueError):
    """A target host that is, or resolves to, an address alerts may not be sent to."""


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
        parts = urlsplit(target.strip())
        try:
            port = parts.port
        except ValueError:
            port = None
        return [(parts.hostname, port)] if parts.hostname else []
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
