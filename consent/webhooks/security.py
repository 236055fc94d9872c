"""Where a webhook may go: https, and only to global addresses (docs/webhooks.md "Security").

A URL is checked when an endpoint is saved and again at every send, because a name can
resolve to something else later (DNS rebinding). At send time the name is resolved once,
every address is checked, and the request goes to the checked address itself: the URL's
host becomes an IP literal, while the ``Host`` header and the TLS server name (SNI, and the
certificate check) keep the original name (:func:`url_pin`).

``WEBHOOKS_ALLOW_LOOPBACK`` (tests only) lets plain ``http`` go to 127.0.0.1/::1, so that
tests can run a real receiver; everything else stays refused.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.utils.translation import gettext as _

from members.errors import DomainError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA_ADDRESSES = frozenset({"169.254.169.254", "fd00:ec2::254"})


class WebhookUrlRefusedError(DomainError):
    code = "webhook_url_refused"
    status = 400


@dataclass(frozen=True)
class PinnedUrl:
    """A checked URL: where to connect (an IP literal) and the name to present."""

    url: str  # the URL with the checked address as its host
    host: str  # the original host name, for Host and SNI
    host_header: str  # ``name`` or ``name:port`` as the Host header carries it
    address: str


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (a module function, so tests can replace it)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _refusal(address: IPAddress) -> str:
    """Why an address is not allowed, or "" when it is a global one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    text = str(address)
    if text in METADATA_ADDRESSES:
        return _("%(address)s is the cloud metadata service.") % {"address": text}
    if address.is_loopback:
        if settings.WEBHOOKS_ALLOW_LOOPBACK:
            return ""
        return _("%(address)s is this machine (loopback).") % {"address": text}
    if address.is_link_local:
        return _("%(address)s is a link-local address.") % {"address": text}
    if address.is_private:
        return _("%(address)s is a private network address.") % {"address": text}
    if not address.is_global or address.is_multicast or address.is_reserved:
        return _("%(address)s is not a public internet address.") % {"address": text}
    return ""


def _split(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        raise WebhookUrlRefusedError(_("The URL must start with https:// and name a host."))
    if parts.username or parts.password:
        raise WebhookUrlRefusedError(_("The URL must not contain a user name or password."))
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise WebhookUrlRefusedError(_("The URL's port is not a number.")) from exc
    return scheme, host, port


def url_addresses_check(url: str) -> list[str]:
    """The addresses ``url`` may be sent to; raises :class:`WebhookUrlRefusedError` with the
    reason when the scheme or any address it resolves to is not allowed."""
    scheme, host, port = _split(url)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise WebhookUrlRefusedError(
                _("The host %(host)s could not be found.") % {"host": host}
            ) from exc
        if not addresses:
            raise WebhookUrlRefusedError(
                _("The host %(host)s could not be found.") % {"host": host}
            )
    parsed = [ipaddress.ip_address(a.split("%", 1)[0]) for a in addresses]
    for address in parsed:
        reason = _refusal(address)
        if reason:
            raise WebhookUrlRefusedError(
                _("Webhooks may not go to %(host)s: %(reason)s") % {"host": host, "reason": reason}
            )
    all_loopback = all(
        (a.ipv4_mapped if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped else a).is_loopback
        for a in parsed
    )
    if scheme != "https" and not (settings.WEBHOOKS_ALLOW_LOOPBACK and all_loopback):
        raise WebhookUrlRefusedError(_("The URL must use https://."))
    return [str(a) for a in parsed]


def url_check(url: str) -> None:
    """Raise :class:`WebhookUrlRefusedError` unless ``url`` may receive webhooks."""
    url_addresses_check(url)


def url_pin(url: str) -> PinnedUrl:
    """Resolve and check ``url`` now, and give the URL to connect to the checked address."""
    address = url_addresses_check(url)[0]
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    host_header = f"{host}:{parts.port}" if parts.port else host
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    return PinnedUrl(url=pinned, host=host, host_header=host_header, address=address)
