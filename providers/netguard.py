"""Which network addresses a provider call may reach, checked when a socket is opened.

A connection's base URL is typed by a team owner, so without a check "Test connection" would
let any owner make this server fetch its own loopback services, the cloud metadata address or
the private network, and read the answers (server-side request forgery). The rules:

- Only globally routable unicast addresses are reached. Loopback, link-local (169.254.0.0/16,
  the metadata service), private and unique-local ranges, CGNAT, multicast, documentation and
  reserved ranges are refused, and so are IPv6 forms that embed one of them (IPv4-mapped
  `::ffff:127.0.0.1`, IPv4-compatible `::7f00:1`, 6to4 `2002::/16`, NAT64 `64:ff9b::/96`).
- A name is resolved once, every address it resolves to must pass, and the socket then connects
  to one of those checked addresses (never to the name again), so a DNS answer that changes
  between the check and the connect cannot slip a private address through.
- The operator may allow networks with `FINEWEB_PROVIDER_ALLOWED_NETWORKS` (CIDRs, e.g. a
  self-hosted vLLM on the LAN); an address inside one of them is reached whatever its kind.

`GuardedTransport` is the httpx transport of every provider client fineweb builds (see
`providers.services.provider_client`); `url_check` runs the same rules when a connection is
saved, for an early, clear form error. The built-in local provider runs in-process and never
opens a socket; the operator's `FINEWEB_LOCAL_BASE_URL` is reached with an unguarded client.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Special-purpose ranges refused whatever this Python's `is_global` says of them (its tables
# differ between versions: 3.11 calls 192.0.0.8 and fec0::/10 global).
_SPECIAL = [
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "100.64.0.0/10",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "240.0.0.0/4",
        "64:ff9b:1::/48",
        "100::/64",
        "2001:db8::/32",
        "fec0::/10",
    )
]
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

# When set (a time.monotonic() value), every connect, read and write of the current provider
# request ends by then: the page budget holds even against a server that trickles bytes.
DEADLINE: ContextVar[float | None] = ContextVar("fineweb_provider_deadline", default=None)

_resolver_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="fineweb-dns")


class AddressNotAllowed(Exception):
    """A provider URL names, or resolves to, an address fineweb does not call."""

    def __init__(self, host: str, reason: str):
        self.host = host
        self.reason = reason
        super().__init__(f"{host} is {reason}")


def refusal_sentence(exc: AddressNotAllowed) -> str:
    return (
        f"The base URL's host {exc.host} is {exc.reason}; fineweb calls providers only at public "
        "addresses unless the operator allows its network (FINEWEB_PROVIDER_ALLOWED_NETWORKS)."
    )


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, 6to4, NAT64), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(ip: IPAddress) -> str | None:
    """Why fineweb would not connect to `ip` by its own rules (None: a public address)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
            # The socket reaches the IPv4 address itself: it gets that address's verdict.
            return address_refusal(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        inner = _embedded_ipv4(ip)  # 6to4, NAT64: a gateway forwards to the IPv4 address
        if inner is not None and (reason := address_refusal(inner)) is not None:
            return reason
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (such as the cloud metadata service)"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private network address"
    if not ip.is_global or any(ip.version == net.version and ip in net for net in _SPECIAL):
        return "a reserved address"
    return None


def allowed_networks() -> list[IPNetwork]:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in settings.FINEWEB_PROVIDER_ALLOWED_NETWORKS]


def ip_refusal(ip: IPAddress, allowed: Iterable[IPNetwork] | None = None) -> str | None:
    """`address_refusal`, unless the operator allowed a network holding `ip`."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    nets = allowed_networks() if allowed is None else list(allowed)
    candidates = [ip]
    inner = _embedded_ipv4(ip)
    if inner is not None:
        candidates.append(inner)
    for net in nets:
        for candidate in candidates:
            if candidate.version == net.version and candidate in net:
                return None
    return address_refusal(ip)


# --- resolving ----------------------------------------------------------------------------------
def _numeric(host: str, port: int) -> list[str] | None:
    """The address a numeric host stands for, in every form the C library accepts
    (`127.0.0.1`, `2130706433`, `0177.0.0.1`, `0x7f.1`, `::ffff:7f00:1`), without any DNS."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return [str(info[4][0]) for info in infos]


def resolve_name(host: str, port: int) -> list[str]:
    """DNS for a host name. Tests replace this (no test sends a DNS query)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def resolve(host: str, port: int, *, timeout: float | None = None) -> list[str]:
    """Every address `host` stands for. Raises socket.gaierror (or TimeoutError past `timeout`)."""
    host = host.strip("[]")
    numeric = _numeric(host, port)
    if numeric is not None:
        return numeric
    if timeout is None:
        return resolve_name(host, port)
    future = _resolver_pool.submit(resolve_name, host, port)
    try:
        return future.result(timeout=max(timeout, 0.001))
    except FutureTimeout as exc:
        raise TimeoutError(f"resolving {host} took over {timeout:.1f}s") from exc


def checked_addresses(host: str, port: int, *, timeout: float | None = None) -> list[str]:
    """Resolve `host` and return its addresses if every one may be reached; else AddressNotAllowed."""
    addresses = resolve(host, port, timeout=timeout)
    allowed = allowed_networks()
    for address in addresses:
        reason = ip_refusal(ipaddress.ip_address(address), allowed)
        if reason is not None:
            if _numeric(host.strip("[]"), port) is None:
                reason = f"a name that resolves to {reason}"
            raise AddressNotAllowed(host, reason)
    return addresses


def url_check(url: str) -> None:
    """At save time: refuse a URL whose host is, or resolves to, a forbidden address.

    A name that does not resolve here passes (the connect-time check still applies to it).
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 443
    try:
        checked_addresses(host, port, timeout=3.0)
    except (OSError, TimeoutError, UnicodeError, ValueError):
        return


# --- the transport ------------------------------------------------------------------------------
def _remaining(timeout: float | None) -> float | None:
    deadline = DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        return 0.0
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """Caps every read and write at what is left of the request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        left = _remaining(timeout)
        if left == 0.0:
            raise httpcore.ReadTimeout("the provider request used up its time")
        return self._inner.read(max_bytes, left)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        left = _remaining(timeout)
        if left == 0.0:
            raise httpcore.WriteTimeout("the provider request used up its time")
        self._inner.write(buffer, left)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _remaining(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks, then connects to a checked IP address (TLS still verifies the name)."""

    def __init__(self, inner: httpcore.NetworkBackend | None = None):
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _remaining(timeout)
        if left == 0.0:
            raise httpcore.ConnectTimeout("the provider request used up its time")
        try:
            addresses = checked_addresses(host, port, timeout=left)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"could not resolve {host}: {exc}") from exc
        last: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    timeout=_remaining(timeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            return _DeadlineStream(stream)
        assert last is not None
        raise last

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise AddressNotAllowed("a unix socket", "not a network address")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying context for every client (building one reads the CA bundle: ~20 ms)."""
    return httpx.create_ssl_context(trust_env=False)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with the address rules above at connect time, and no environment
    proxies (a proxy would connect on our behalf and bypass the check)."""

    def __init__(self, *, limits: httpx.Limits | None = None):
        limits = limits or httpx.Limits(max_connections=20, max_keepalive_connections=5)
        ssl_context = _ssl_context()
        super().__init__(verify=ssl_context, trust_env=False, limits=limits)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(),
        )
