from __future__ import annotations

import logging

import pytest
from django.urls import reverse

from fineweb.accounts.models import Membership
from fineweb.accounts.services import team_add_member, user_create
from providers.models import Connection
from providers.services import connection_create
from tests.factories import client_for
from tests.fakes.openai import OPENAI_KEY


@pytest.fixture
def openai_connection(team, alice):
    return connection_create(team=team, user=alice, kind="openai", name="OpenAI prod", api_key=OPENAI_KEY)


@pytest.fixture
def launcher_client(team):
    user = user_create(username="lena", password="pw-pw-pw-pw-2")
    team_add_member(team=team, user=user, role=Membership.Role.LAUNCHER)
    return client_for(user)


def test_the_list_shows_each_connection_with_its_masked_key_only(alice_client, openai_connection):
    page = alice_client.get(reverse("providers:list")).content.decode()
    assert "OpenAI prod" in page
    assert "••••9876" in page
    assert OPENAI_KEY not in page
    assert "Built-in local provider" in page
    assert "Import history from OpenAI" in page


def test_adding_a_connection_stores_it_encrypted_and_never_renders_the_key(alice_client, team, caplog):
    caplog.set_level(logging.DEBUG)
    response = alice_client.post(
        reverse("providers:add"),
        {
            "kind": "together",
            "name": "Together",
            "base_url": "",
            "api_key": "tgp_v1_secret_WXYZ",
        },
        follow=True,
    )
    page = response.content.decode()
    connection = Connection.objects.get(team=team, name="Together")
    assert connection.api_key() == "tgp_v1_secret_WXYZ"
    assert "••••WXYZ" in page
    assert "tgp_v1_secret_WXYZ" not in page
    edit_page = alice_client.get(reverse("providers:edit", args=[connection.id])).content.decode()
    assert "tgp_v1_secret_WXYZ" not in edit_page
    assert "Leave blank to keep it" in edit_page
    assert "tgp_v1_secret_WXYZ" not in caplog.text


def test_the_add_form_explains_each_kind_and_reports_a_missing_key(alice_client, team):
    page = alice_client.get(reverse("providers:add")).content.decode()
    assert "platform.openai.com" in page and "api.together.ai" in page and "ending in /v1" in page
    response = alice_client.post(
        reverse("providers:add"), {"kind": "openai", "name": "No key", "api_key": ""}
    )
    assert response.status_code == 200
    assert "Paste the API key" in response.content.decode()
    assert not Connection.objects.filter(team=team, name="No key").exists()


def test_editing_with_a_blank_key_keeps_it(alice_client, openai_connection):
    alice_client.post(
        reverse("providers:edit", args=[openai_connection.id]),
        {"name": "Renamed", "base_url": "", "api_key": ""},
    )
    fresh = Connection.objects.get(id=openai_connection.id)
    assert fresh.name == "Renamed" and fresh.api_key() == OPENAI_KEY


def test_charlie_gets_404_on_alices_connection_everywhere(charlie_client, openai_connection):
    for name in ("providers:edit", "providers:delete", "imports:status"):
        assert charlie_client.get(reverse(name, args=[openai_connection.id])).status_code == 404
    for name in ("providers:test", "imports:start", "providers:delete", "providers:edit"):
        assert charlie_client.post(reverse(name, args=[openai_connection.id])).status_code == 404
    assert "OpenAI prod" not in charlie_client.get(reverse("providers:list")).content.decode()
    assert Connection.objects.filter(id=openai_connection.id).exists()


def test_a_launcher_can_read_and_test_but_not_edit_add_or_delete(launcher_client, openai_connection):
    page = launcher_client.get(reverse("providers:list")).content.decode()
    assert "OpenAI prod" in page and "Only team owners" in page
    assert reverse("providers:edit", args=[openai_connection.id]) not in page
    assert launcher_client.get(reverse("providers:edit", args=[openai_connection.id])).status_code == 403
    assert (
        launcher_client.post(
            reverse("providers:edit", args=[openai_connection.id]), {"name": "hijack"}
        ).status_code
        == 403
    )
    assert launcher_client.post(reverse("providers:delete", args=[openai_connection.id])).status_code == 403
    assert (
        launcher_client.post(
            reverse("providers:add"), {"kind": "openai", "name": "x", "api_key": "k"}
        ).status_code
        == 403
    )
    assert launcher_client.post(reverse("imports:start", args=[openai_connection.id])).status_code == 403
    assert Connection.objects.get(id=openai_connection.id).name == "OpenAI prod"


def test_the_test_button_shows_the_typed_errors_sentence_through_htmx(bob_client, team, alice):
    # Nothing listens on port 9: the adapter's typed connection error is the answer.
    openai_connection = connection_create(
        team=team,
        user=alice,
        kind="openai_compatible",
        name="Down",
        base_url="http://127.0.0.1:9/v1",
        api_key=OPENAI_KEY,
    )
    response = bob_client.post(reverse("providers:test", args=[openai_connection.id]), HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page  # just the fragment
    assert "failed" in page and "could not reach" in page
    fresh = Connection.objects.get(id=openai_connection.id)
    assert fresh.last_test_ok is False
    assert fresh.last_test_message in page.replace("&#x27;", "'")
    assert OPENAI_KEY not in page


def test_deleting_asks_first_then_deletes(alice_client, openai_connection):
    page = alice_client.get(reverse("providers:delete", args=[openai_connection.id])).content.decode()
    assert "Delete OpenAI prod?" in page
    alice_client.post(reverse("providers:delete", args=[openai_connection.id]))
    assert not Connection.objects.filter(id=openai_connection.id).exists()


def test_the_local_provider_cannot_be_deleted_from_the_page(alice_client, team):
    local = Connection.objects.get(team=team, kind="local")
    response = alice_client.post(reverse("providers:delete", args=[local.id]), follow=True)
    assert "cannot be deleted" in response.content.decode()
    assert Connection.objects.filter(id=local.id).exists()


def test_import_is_offered_only_for_openai_connections(alice_client, team):
    local = Connection.objects.get(team=team, kind="local")
    response = alice_client.post(reverse("imports:start", args=[local.id]), follow=True)
    assert "Only OpenAI connections" in response.content.decode()
    assert Connection.objects.get(id=local.id).import_state == ""
