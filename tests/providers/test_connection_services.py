from __future__ import annotations

import io
import logging

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection as db_connection

from fineweb.accounts.models import Team
from fineweb.accounts.services import team_create, user_create
from providers.crypto import KeyUnreadable
from providers.models import Connection
from providers.openai import OpenAIProvider
from providers.services import (
    connection_create,
    connection_delete,
    connection_ensure_local,
    connection_get_provider,
    connection_test,
    connection_update,
)
from providers.together import TogetherProvider
from tests.providers.fakes import OPENAI_KEY, TOGETHER_KEY, FakeOpenAI, FakeTogether


def _raw_column(connection_id: int) -> str:
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT api_key_encrypted, key_last4 FROM providers_connection WHERE id = %s", [connection_id])
        token, last4 = cursor.fetchone()
    return f"{token}|{last4}"


@pytest.fixture
def openai_connection(team, alice):
    return connection_create(team=team, user=alice, kind="openai", name="OpenAI", api_key=OPENAI_KEY)


def test_the_database_column_holds_a_fernet_token_not_the_key(openai_connection):
    raw = _raw_column(openai_connection.id)
    assert OPENAI_KEY not in raw
    assert raw.startswith("gAAAAA")
    assert raw.endswith("|9876")
    assert Connection.objects.get(id=openai_connection.id).api_key() == OPENAI_KEY


def test_the_key_is_shown_only_as_its_last_four_characters(openai_connection):
    assert openai_connection.masked_key == "••••9876"


def test_rotation_re_encrypts_with_the_new_first_key_and_the_old_key_can_then_go(openai_connection, settings):
    old_keys = list(settings.FINEWEB_FERNET_KEYS)
    new_key = Fernet.generate_key().decode()
    before = _raw_column(openai_connection.id)
    settings.FINEWEB_FERNET_KEYS = [new_key, *old_keys]
    call_command("rotate_provider_keys", stdout=io.StringIO())
    after = _raw_column(openai_connection.id)
    assert after != before
    settings.FINEWEB_FERNET_KEYS = [new_key]  # the old key removed
    assert Connection.objects.get(id=openai_connection.id).api_key() == OPENAI_KEY


def test_a_key_encrypted_with_a_removed_fernet_key_gives_a_sentence_not_a_crash(openai_connection, settings):
    settings.FINEWEB_FERNET_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(KeyUnreadable) as caught:
        Connection.objects.get(id=openai_connection.id).api_key()
    assert "enter the API key again" in caught.value.user_message
    ok, message = connection_test(connection=Connection.objects.get(id=openai_connection.id))
    assert not ok and "can no longer be decrypted" in message
    with pytest.raises(CommandError):
        call_command("rotate_provider_keys", stdout=io.StringIO())


def test_updating_with_a_blank_key_keeps_the_old_one(openai_connection):
    connection_update(connection=openai_connection, name="OpenAI prod", base_url="", api_key="")
    fresh = Connection.objects.get(id=openai_connection.id)
    assert fresh.name == "OpenAI prod"
    assert fresh.api_key() == OPENAI_KEY


def test_updating_with_a_new_key_replaces_it(openai_connection):
    connection_update(connection=openai_connection, name="OpenAI", base_url="", api_key="sk-new-key-ABCD")
    fresh = Connection.objects.get(id=openai_connection.id)
    assert fresh.api_key() == "sk-new-key-ABCD" and fresh.masked_key == "••••ABCD"


def test_openai_and_together_need_a_key_and_a_compatible_server_needs_a_url(team, alice):
    with pytest.raises(ValidationError) as caught:
        connection_create(team=team, user=alice, kind="openai", name="x", api_key=" ")
    assert "api_key" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        connection_create(team=team, user=alice, kind="openai_compatible", name="y", api_key="k")
    assert "base_url" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        connection_create(team=team, user=alice, kind="openai_compatible", name="z", base_url="ftp://x", api_key="k")
    assert "http" in caught.value.message_dict["base_url"][0]


def test_names_are_unique_within_a_team(openai_connection, team, alice):
    with pytest.raises(ValidationError):
        connection_create(team=team, user=alice, kind="together", name="OpenAI", api_key="k")


def test_every_new_team_gets_the_built_in_local_provider(alice, team):
    local = Connection.objects.get(team=team, kind="local")
    assert local.name == "Built-in local provider"
    assert local.api_key_encrypted == ""
    assert local.masked_key == "built in"


def test_the_local_key_comes_from_settings_not_the_database(team, settings):
    settings.FINEWEB_LOCAL_API_KEY = "fw-local-from-settings"
    assert Connection.objects.get(team=team, kind="local").api_key() == "fw-local-from-settings"


def test_ensuring_the_local_provider_twice_keeps_one(team):
    connection_ensure_local(team=team)
    connection_ensure_local(team=team)
    assert Connection.objects.filter(team=team, kind="local").count() == 1


def test_the_data_migration_gives_existing_teams_a_local_provider(db):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("providers.migrations.0002_local_connection_for_every_team")
    bare = Team.objects.create(name="Made before providers existed")
    migration.create_local_connections(apps, None)
    assert Connection.objects.filter(team=bare, kind="local").count() == 1


def test_the_local_provider_cannot_be_deleted(team):
    with pytest.raises(ValidationError):
        connection_delete(connection=Connection.objects.get(team=team, kind="local"))


def test_get_provider_builds_the_right_adapter(team, alice, openai_connection):
    together = connection_create(team=team, user=alice, kind="together", name="T", api_key=TOGETHER_KEY)
    compat = connection_create(team=team, user=alice, kind="openai_compatible", name="C",
                               base_url="https://ft.example.com/v1/", api_key="k")
    assert isinstance(connection_get_provider(connection=openai_connection), OpenAIProvider)
    assert isinstance(connection_get_provider(connection=together), TogetherProvider)
    compat_provider = connection_get_provider(connection=compat)
    assert isinstance(compat_provider, OpenAIProvider) and compat_provider.base_url == "https://ft.example.com/v1"


def test_the_local_provider_goes_over_http_when_a_base_url_is_set(team, settings):
    settings.FINEWEB_LOCAL_BASE_URL = "http://gpu-box:8000/local/v1"
    provider = connection_get_provider(connection=Connection.objects.get(team=team, kind="local"))
    assert provider.base_url == "http://gpu-box:8000/local/v1"
    assert provider.kind == "local"


def test_a_successful_test_is_stored_with_the_providers_sentence(openai_connection):
    fake = FakeOpenAI()
    ok, message = connection_test(connection=openai_connection, client=fake.client())
    fresh = Connection.objects.get(id=openai_connection.id)
    assert ok and fresh.last_test_ok is True
    assert fresh.last_test_message == message and "can be fine-tuned" in message
    assert fresh.last_tested_at is not None


def test_a_refused_key_is_stored_as_a_failed_test_and_never_logged(team, alice, caplog):
    caplog.set_level(logging.DEBUG)
    together = connection_create(team=team, user=alice, kind="together", name="T", api_key="tgp_wrong_key_QQQQ")
    ok, message = connection_test(connection=together, client=FakeTogether().client())
    assert not ok
    assert "refused the API key" in message
    assert "tgp_wrong_key_QQQQ" not in message
    assert "tgp_wrong_key_QQQQ" not in caplog.text
    assert Connection.objects.get(id=together.id).last_test_ok is False


def test_deleting_twice_creates_nothing_and_keys_of_other_teams_are_untouched(team, alice, openai_connection):
    other_owner = user_create(username="olga", password="pw-pw-pw-pw-1")
    other_team = team_create(name="Other", owner=other_owner)
    theirs = connection_create(team=other_team, user=other_owner, kind="openai", name="OpenAI", api_key="sk-theirs-1111")
    connection_delete(connection=openai_connection)
    assert not Connection.objects.filter(id=openai_connection.id).exists()
    assert Connection.objects.get(id=theirs.id).api_key() == "sk-theirs-1111"
