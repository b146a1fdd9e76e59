"""No server-side request forgery: a connection's base URL never makes this server reach its
own loopback, link-local (cloud metadata), private or unique-local addresses, at save time or at
connect time, unless the operator allows the network. Only loopback sockets are ever opened
here; every other address must be refused before any connect."""

from __future__ import annotations

import json

import httpcore
import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from providers import netguard
from providers.models import Connection
from providers.services import connection_create, connection_get_provider, connection_test
from tests.providers.netservers import CannedServer

pytestmark = pytest.mark.django_db

MODELS = b'{"object": "list", "data": [{"id": "gpt-4o-mini-2024-07-18", "object": "model"}]}'


@pytest.fixture
def default_rules(settings):
    """fineweb's own default: no network allowed beyond public addresses."""
    settings.FINEWEB_PROVIDER_ALLOWED_NETWORKS = []


@pytest.fixture
def connects(monkeypatch):
    """Every address a provider client really opened a socket to."""
    opened: list[tuple[str, int]] = []
    original = httpcore.SyncBackend.connect_tcp

    def spy(self, host, port, *args, **kwargs):
        opened.append((host, port))
        return original(self, host, port, *args, **kwargs)

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", spy)
    return opened


@pytest.fixture
def names(monkeypatch):
    """A resolver answering from a dict the test fills in (a list per lookup, or a fixed list)."""
    table: dict[str, list] = {}

    def resolve_name(host, port):
        answer = table[host]
        if answer and isinstance(answer[0], list):
            return answer.pop(0)
        return answer

    monkeypatch.setattr(netguard, "resolve_name", resolve_name)
    return table


def compat(team, alice, base_url: str, name: str = "Compat") -> Connection:
    return connection_create(
        team=team,
        user=alice,
        kind="openai_compatible",
        name=name,
        base_url=base_url,
        api_key="sk-compat-1234",
    )


def saved_anyway(team, alice, base_url: str) -> Connection:
    """A connection whose URL is forbidden now, though it was accepted when saved (a DNS answer
    that changed, a rule tightened since): only the connect-time check stands in the way."""
    connection = compat(team, alice, "https://compat.example/v1")
    Connection.objects.filter(id=connection.id).update(base_url=base_url)
    return Connection.objects.get(id=connection.id)


# --- at save time ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8000/v1", "loopback"),
        ("http://localhost:8000/v1", "resolves to a loopback"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://10.0.0.1/v1", "private"),
        ("http://192.168.1.20:8000/v1", "private"),
        ("http://[::1]:8000/v1", "loopback"),
        ("http://[::ffff:127.0.0.1]/v1", "loopback"),
        ("http://[fd00::1]/v1", "private"),
        ("http://[fe80::1]/v1", "link-local"),
        ("http://0.0.0.0:8000/v1", "unspecified"),
        ("http://2130706433/v1", "loopback"),  # 127.0.0.1 as one decimal number
        ("http://0x7f.1/v1", "loopback"),
    ],
)
def test_a_forbidden_base_url_is_refused_when_saved(default_rules, team, alice, connects, url, reason):
    with pytest.raises(ValidationError) as caught:
        compat(team, alice, url)
    message = caught.value.message_dict["base_url"][0]
    assert reason in message and "FINEWEB_PROVIDER_ALLOWED_NETWORKS" in message
    assert connects == []
    assert not Connection.objects.filter(name="Compat").exists()


def test_a_name_that_resolves_to_a_private_address_is_refused_when_saved(default_rules, team, alice, names):
    names["vllm.internal"] = ["10.0.0.1"]
    with pytest.raises(ValidationError) as caught:
        compat(team, alice, "http://vllm.internal:8000/v1")
    assert "a name that resolves to a private network address" in caught.value.message_dict["base_url"][0]


def test_a_name_with_one_private_address_among_public_ones_is_refused(default_rules, team, alice, names):
    names["mixed.example"] = ["93.184.216.34", "10.1.2.3"]
    with pytest.raises(ValidationError):
        compat(team, alice, "https://mixed.example/v1")


def test_editing_a_connection_to_a_forbidden_url_is_refused(default_rules, team, alice, alice_client):
    connection = compat(team, alice, "https://ft.example.com/v1")
    response = alice_client.post(
        reverse("providers:edit", args=[connection.id]),
        {"name": "Compat", "base_url": "http://169.254.169.254/latest", "api_key": ""},
    )
    assert response.status_code == 200
    assert "link-local address" in response.content.decode()
    assert Connection.objects.get(id=connection.id).base_url == "https://ft.example.com/v1"


# --- at connect time ------------------------------------------------------------------------------


def test_the_test_button_refuses_loopback_before_connecting(
    default_rules, team, alice, alice_client, connects
):
    with CannedServer(body=MODELS) as server:
        connection = saved_anyway(team, alice, server.base_url)
        response = alice_client.post(reverse("providers:test", args=[connection.id]), HTTP_HX_REQUEST="true")
        assert server.accepted == 0
    page = " ".join(response.content.decode().split())
    assert response.status_code == 200
    assert "host 127.0.0.1 is a loopback address" in page
    assert connects == []
    assert Connection.objects.get(id=connection.id).last_test_ok is False


def test_a_dns_answer_that_changes_after_the_save_is_refused_at_connect(
    default_rules, team, alice, names, connects
):
    # Public when saved, the metadata address when called (a DNS rebind).
    names["rebind.example"] = [["93.184.216.34"], ["169.254.169.254"]]
    connection = compat(team, alice, "http://rebind.example/v1")
    ok, message = connection_test(connection=connection)
    assert not ok
    assert "host rebind.example is a name that resolves to a link-local address" in message
    assert connects == []


def test_the_socket_goes_to_the_checked_address_not_to_the_name_again(settings, team, alice, names, connects):
    # Allowed (loopback, as an operator may allow a LAN server) at the first lookup; a second
    # lookup would give the metadata address, but there is none: the checked IP is connected to.
    settings.FINEWEB_PROVIDER_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with CannedServer(body=MODELS) as server:
        names["llm.lan"] = ["127.0.0.1"]
        connection = compat(team, alice, f"http://llm.lan:{server.port}/v1")
        names["llm.lan"] = [["127.0.0.1"], ["169.254.169.254"]]
        ok, message = connection_test(connection=connection)
        assert ok, message
        assert connects == [("127.0.0.1", server.port)]
        assert f"Host: llm.lan:{server.port}".encode() in server.requests[0]


def test_an_operator_allowed_network_is_reached(settings, team, alice):
    settings.FINEWEB_PROVIDER_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    with CannedServer(body=MODELS) as server:
        connection = compat(team, alice, server.base_url)
        ok, message = connection_test(connection=connection)
    assert ok, message
    assert server.accepted == 1


def test_the_built_in_local_provider_keeps_working_with_no_network_allowed(default_rules, team, connects):
    local = Connection.objects.get(team=team, kind="local")
    ok, message = connection_test(connection=local)
    assert ok, message
    assert connects == []  # in-process, no socket at all


def test_the_operators_local_base_url_is_reached_although_it_is_loopback(
    default_rules, settings, team, connects
):
    with CannedServer(body=MODELS) as server:
        settings.FINEWEB_LOCAL_BASE_URL = server.base_url.replace("/v1", "/local/v1")
        provider = connection_get_provider(connection=Connection.objects.get(team=team, kind="local"))
        assert [m.id for m in provider.list_models(include_all=True)] == ["gpt-4o-mini-2024-07-18"]
    assert connects == [("127.0.0.1", server.port)]


def test_an_owner_set_local_base_url_follows_the_rules(default_rules, team, alice, connects):
    local = Connection.objects.get(team=team, kind="local")
    Connection.objects.filter(id=local.id).update(base_url="http://10.0.0.7:8000/local/v1")
    ok, message = connection_test(connection=Connection.objects.get(id=local.id))
    assert not ok and "private network address" in message
    assert connects == []


def test_redirects_are_not_followed(settings, team, alice):
    settings.FINEWEB_PROVIDER_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    with CannedServer(status=302, body=b"") as server:
        connection = compat(team, alice, server.base_url)
        ok, _ = connection_test(connection=connection)
    assert not ok and server.accepted == 1


# --- what the page shows of a provider's answer ---------------------------------------------------


def test_a_non_json_body_is_never_shown(settings, team, alice, alice_client):
    settings.FINEWEB_PROVIDER_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    secret = b"root:x:0:0:root:/root:/bin/bash\nINTERNAL-ADMIN-PANEL token=abc123"
    with CannedServer(status=400, body=secret, content_type="text/plain") as server:
        connection = compat(team, alice, server.base_url)
        response = alice_client.post(reverse("providers:test", args=[connection.id]), HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert "HTTP 400" in page or "rejected" in page
    assert "root:x" not in page and "INTERNAL-ADMIN-PANEL" not in page
    assert "root:x" not in Connection.objects.get(id=connection.id).last_test_message


def test_a_json_error_message_is_shown_as_a_short_escaped_excerpt(settings, team, alice, alice_client):
    settings.FINEWEB_PROVIDER_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    message = "<script>alert(1)</script> the key is not valid " + "x" * 2000
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()
    with CannedServer(status=400, body=body) as server:
        connection = compat(team, alice, server.base_url)
        response = alice_client.post(reverse("providers:test", args=[connection.id]), HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; the key is not valid" in page
    stored = Connection.objects.get(id=connection.id).last_test_message
    assert "x" * 400 not in stored and stored.count("x") < 300
