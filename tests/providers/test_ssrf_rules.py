"""The address rules of providers/netguard.py over generated IPv4 and IPv6 addresses, in every
spelling the URL parser and the C library accept. Nothing here opens a socket: the connect-time
check is driven with a backend that records what it would have connected to."""

from __future__ import annotations

import ipaddress

import httpcore
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers import netguard

FORBIDDEN_V4 = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
]
FORBIDDEN_V6 = ["::1/128", "::/128", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8", "2001:db8::/32"]
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"]

forbidden_v4 = st.sampled_from(FORBIDDEN_V4).flatmap(lambda net: st.ip_addresses(network=net))
forbidden_v6 = st.sampled_from(FORBIDDEN_V6).flatmap(lambda net: st.ip_addresses(network=net))
any_v4 = st.ip_addresses(v=4)
any_ip = st.ip_addresses()
quick = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def refused(ip) -> bool:
    return netguard.ip_refusal(ip, []) is not None


def spellings(ip: ipaddress.IPv4Address) -> list[str]:
    """127.0.0.1 as 127.0.0.1, 2130706433, 0177.0.0.01, 0x7f.0x0.0x0.0x1 and [::ffff:127.0.0.1]."""
    octets = str(ip).split(".")
    return [
        str(ip),
        str(int(ip)),
        ".".join(f"0{int(o):o}" for o in octets),
        ".".join(hex(int(o)) for o in octets),
        f"[::ffff:{ip}]",
    ]


@quick
@given(forbidden_v4)
def test_every_private_loopback_link_local_or_reserved_ipv4_is_refused(ip):
    assert refused(ip)


@quick
@given(forbidden_v6)
def test_every_loopback_unique_local_link_local_or_multicast_ipv6_is_refused(ip):
    assert refused(ip)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_reached(address):
    assert netguard.ip_refusal(ipaddress.ip_address(address), []) is None


@quick
@given(any_v4)
def test_ipv6_forms_that_carry_an_ipv4_address_get_its_verdict(ip):
    mapped = ipaddress.IPv6Address(f"::ffff:{ip}")
    assert refused(mapped) == refused(ip)
    if int(ip) > 1:
        compatible = ipaddress.IPv6Address(int(ip))  # ::a.b.c.d, deprecated but still parsed
        assert refused(compatible) == refused(ip)
    if refused(ip):  # through a 6to4 or NAT64 gateway, the forbidden IPv4 address is reached
        assert refused(ipaddress.IPv6Address((0x2002 << 112) | (int(ip) << 80)))
        assert refused(ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(ip)))


@quick
@given(any_ip)
def test_an_address_is_reached_only_if_it_is_global_unicast(ip):
    if isinstance(ip, ipaddress.IPv6Address) and (ip.ipv4_mapped or ip.sixtofour):
        return  # judged by the IPv4 address inside (the test above)
    if isinstance(ip, ipaddress.IPv6Address) and (ip in ipaddress.ip_network("::/96")):
        return
    if not refused(ip):
        assert ip.is_global and not ip.is_multicast


@quick
@given(any_v4)
def test_every_spelling_of_an_ipv4_url_gets_the_same_verdict(monkeypatch_settings, ip):
    for host in spellings(ip):
        try:
            netguard.url_check(f"http://{host}:8000/v1")
        except netguard.AddressNotAllowed:
            assert refused(ip), host
        else:
            assert not refused(ip), host


@quick
@given(
    st.sampled_from(FORBIDDEN_V4 + FORBIDDEN_V6).flatmap(
        lambda net: st.tuples(st.just(net), st.ip_addresses(network=net))
    )
)
def test_an_operator_allowed_network_lets_its_addresses_through(pair):
    net, ip = pair
    assert netguard.ip_refusal(ip, [ipaddress.ip_network(net)]) is None


class RecordingBackend(httpcore.NetworkBackend):
    def __init__(self):
        self.calls: list[str] = []

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.calls.append(host)
        raise httpcore.ConnectError("test backend: never connects")


@quick
@given(st.one_of(forbidden_v4, forbidden_v6))
def test_the_connect_time_check_refuses_before_any_connect(monkeypatch_settings, ip):
    inner = RecordingBackend()
    backend = netguard.GuardedBackend(inner)
    with pytest.raises(netguard.AddressNotAllowed):
        backend.connect_tcp(str(ip), 443, timeout=1)
    assert inner.calls == []


@quick
@given(forbidden_v4, st.sampled_from(["internal.example", "rebind.example"]))
def test_a_name_is_refused_by_what_it_resolves_to(monkeypatch_settings, ip, name):
    inner = RecordingBackend()
    with pytest.MonkeyPatch.context() as mp, pytest.raises(netguard.AddressNotAllowed) as caught:
        mp.setattr(netguard, "resolve_name", lambda host, port: [str(ip)])
        netguard.GuardedBackend(inner).connect_tcp(name, 443, timeout=1)
    assert caught.value.reason.startswith("a name that resolves to")
    assert inner.calls == []


@quick
@given(st.sampled_from(PUBLIC))
def test_a_public_address_is_handed_to_the_socket_as_checked(monkeypatch_settings, address):
    inner = RecordingBackend()
    with pytest.MonkeyPatch.context() as mp, pytest.raises(httpcore.ConnectError):
        mp.setattr(netguard, "resolve_name", lambda host, port: [address])
        netguard.GuardedBackend(inner).connect_tcp("api.example", 443, timeout=1)
    assert inner.calls == [address]  # the checked IP, not the name


@pytest.fixture
def monkeypatch_settings(settings):
    settings.FINEWEB_PROVIDER_ALLOWED_NETWORKS = []
