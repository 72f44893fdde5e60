"""The outbound address policy: which addresses the portal may open a connection to.

Every outbound call goes through ``reliability.http``, whose transport resolves the host
itself, checks every address with ``check_address`` and connects to the checked address
(``GuardedBackend`` / ``AsyncGuardedBackend``), so a name that resolves to a public address
when a destination is saved and to 127.0.0.1 when it is called (DNS rebinding) is refused
at connect time. ``validate_outbound_url`` runs the same resolution and checks for
create-time validation of a URL someone types in.

Refused (unless allow-listed):

- loopback, private (RFC 1918, fc00::/7) and shared (CGNAT, 100.64.0.0/10) addresses,
  unless ``OPSPORTAL_OUTBOUND_ALLOW_PRIVATE`` is on (the development default);
- always: link-local (169.254.0.0/16 — cloud metadata — and fe80::/10), unspecified
  (0.0.0.0, ::), multicast, broadcast and every other reserved or special-purpose range
  that is not globally routable;
- IPv6 forms that embed an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible
  ``::a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) are judged by that IPv4 address.

``OPSPORTAL_OUTBOUND_ALLOWED_CIDRS`` (comma-separated networks) overrides every rule for
the addresses it names: an explicit allow-list for internal consumers (Alertmanager inside
the cluster, a receiver on the same host). URLs carrying user-info (``user:pw@host``) are
refused outright: credentials go in headers, and ``@`` is the classic way to disguise a host.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpcore

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Resolver: (host, port) -> addresses as strings, in the order to try them. Tests swap it
# with ``set_resolver`` (DNS rebinding); nothing else should.
Resolver = Callable[[str, int], list[str]]

_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_ULA = ipaddress.ip_network("fc00::/7")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPAT = ipaddress.ip_network("::/96")

# Categories OPSPORTAL_OUTBOUND_ALLOW_PRIVATE opens; everything else needs the allow-list.
PRIVATE_CATEGORIES = frozenset({"loopback", "private", "shared (CGNAT)"})

SETTING_ALLOW_PRIVATE = "OPSPORTAL_OUTBOUND_ALLOW_PRIVATE"
SETTING_ALLOWED_CIDRS = "OPSPORTAL_OUTBOUND_ALLOWED_CIDRS"


class AddressRefused(ValueError):
    """A URL or address the outbound policy does not allow. The message names the policy."""


class UnresolvableHost(AddressRefused):
    """``validate_outbound_url``: the host has no address right now, so it cannot be checked."""


@dataclass(frozen=True)
class Policy:
    allow_private: bool = False
    allowed: tuple[Network, ...] = ()

    def allows(self, addr: IPAddress) -> bool:
        return any(addr.version == net.version and addr in net for net in self.allowed)


@functools.lru_cache(maxsize=32)
def _parse_cidrs(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


def current_policy() -> Policy:
    """The policy from settings, read on every call (cheap), so overrides apply at once."""
    from django.conf import settings

    cidrs = getattr(settings, SETTING_ALLOWED_CIDRS, ()) or ()
    if isinstance(cidrs, str):
        cidrs = cidrs.split(",")
    return Policy(allow_private=bool(getattr(settings, SETTING_ALLOW_PRIVATE, False)),
                  allowed=_parse_cidrs(tuple(cidrs)))


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr in _NAT64 or (addr in _COMPAT and int(addr) > 1):  # ::a.b.c.d, but not :: or ::1
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def category(addr: IPAddress) -> str | None:
    """Why ``addr`` is not a public destination (``"loopback"``, ``"link-local"``, …), or None."""
    if addr.version == 6:
        embedded = _embedded_ipv4(addr)
        if embedded is not None:
            inner = category(embedded)
            return f"{inner}, embedded in IPv6" if inner else None
    if addr.is_unspecified:
        return "unspecified"
    if addr.is_loopback:
        return "loopback"
    if addr.is_link_local:
        return "link-local"
    if addr.is_multicast:
        return "multicast"
    if addr.version == 4 and addr in _CGNAT:
        return "shared (CGNAT)"
    if (addr.version == 4 and any(addr in n for n in _RFC1918)) or (addr.version == 6 and addr in _ULA):
        return "private"
    if addr.version == 4 and addr == ipaddress.IPv4Address("255.255.255.255"):
        return "broadcast"
    if addr.is_reserved or addr.is_private or not addr.is_global:
        return "reserved"
    return None


def parse_address(value: str) -> IPAddress:
    return ipaddress.ip_address(value.split("%", 1)[0])  # fe80::1%eth0: the zone does not matter here


def check_address(addr: IPAddress | str, policy: Policy | None = None) -> IPAddress:
    """Return ``addr`` if the policy allows connecting to it; raise ``AddressRefused`` if not."""
    policy = policy or current_policy()
    if isinstance(addr, str):
        addr = parse_address(addr)
    if policy.allows(addr):
        return addr
    why = category(addr)
    if why is None or (policy.allow_private and why in PRIVATE_CATEGORIES):
        return addr
    hint = f"{SETTING_ALLOWED_CIDRS} does not list it"
    if why in PRIVATE_CATEGORIES:
        hint = f"{SETTING_ALLOW_PRIVATE} is off and {hint}"
    raise AddressRefused(f"refused by the outbound address policy: {why} address ({hint})")


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    seen: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        if sockaddr[0] not in seen:
            seen.append(sockaddr[0])
    return seen


_resolver: Resolver = _system_resolver


def set_resolver(resolver: Resolver | None) -> Resolver:
    """Install a resolver (None: the system's); returns the previous one. For tests."""
    global _resolver
    previous, _resolver = _resolver, resolver or _system_resolver
    return previous


def resolve_checked(host: str, port: int, policy: Policy | None = None) -> list[IPAddress]:
    """Resolve ``host`` and check every address; refuse if any one is not allowed.

    All of them, not just the first: a name answering with both a public and a private
    address would otherwise win whenever the client happened to try the private one.
    """
    policy = policy or current_policy()
    try:
        literal = parse_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        return [check_address(literal, policy)]
    try:
        answers = _resolver(host, port)
    except (OSError, UnicodeError) as exc:
        raise httpcore.ConnectError(f"could not resolve the host ({type(exc).__name__})") from exc
    if not answers:
        raise httpcore.ConnectError("could not resolve the host (no addresses)")
    return [check_address(a, policy) for a in answers]


def check_userinfo(userinfo: str | bytes) -> None:
    if userinfo:
        raise AddressRefused("refused by the outbound address policy: URLs with user-info (user:password@) "
                             "are not allowed; send credentials in a header")


def validate_outbound_url(url: str) -> None:
    """Raise ``AddressRefused`` (a ValueError) unless ``url`` is an http(s) URL the portal may call now.

    For create/update validation of a URL someone typed: resolves the host and checks every
    address under the current settings. The transport checks again at every connect, so a
    name that resolves differently later is still refused then.
    """
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise AddressRefused(f"not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise AddressRefused("only absolute http(s) URLs can be called")
    check_userinfo(parsed.userinfo)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        resolve_checked(parsed.host, port)
    except httpcore.ConnectError as exc:
        raise UnresolvableHost(f"the host {parsed.host!r} could not be resolved") from exc


# --- httpcore network backends: resolve, check, connect to the checked address ---------------


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ConnectTimeout("connect timed out")
    return left


def _connect_each(addresses: Iterable[IPAddress], attempt: Callable[[str], object]):
    last: Exception | None = None
    for addr in addresses:
        try:
            return attempt(str(addr))
        except httpcore.ConnectError as exc:  # try the next address; timeouts end the attempt
            last = exc
    raise last or httpcore.ConnectError("no address to connect to")


class GuardedBackend(httpcore.NetworkBackend):
    """Sync backend: resolve, check every address, connect to a checked one (never the name)."""

    def __init__(self, inner: httpcore.NetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        addresses = resolve_checked(host, port)
        return _connect_each(addresses, lambda ip: self._inner.connect_tcp(
            ip, port, timeout=_remaining(deadline), local_address=local_address, socket_options=socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise AddressRefused("refused by the outbound address policy: unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class AsyncGuardedBackend(httpcore.AsyncNetworkBackend):
    """Async twin: resolution runs in a worker thread, bounded by the connect timeout."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        import anyio

        deadline = None if timeout is None else time.monotonic() + timeout
        policy = current_policy()
        try:
            addresses = [check_address(parse_address(host), policy)]
        except AddressRefused:
            raise
        except ValueError:  # a name: getaddrinfo blocks, so it runs in a worker thread
            try:
                with anyio.fail_after(timeout):
                    addresses = await anyio.to_thread.run_sync(resolve_checked, host, port, policy,
                                                               abandon_on_cancel=True)
            except TimeoutError as exc:
                raise httpcore.ConnectTimeout("resolving the host timed out") from exc
        last: Exception | None = None
        for addr in addresses:
            try:
                return await self._inner.connect_tcp(str(addr), port, timeout=_remaining(deadline),
                                                     local_address=local_address, socket_options=socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError("no address to connect to")

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise AddressRefused("refused by the outbound address policy: unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
