from __future__ import annotations

import hashlib
import io
import logging
from importlib import import_module

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection as db_connection

from fineweb.accounts.models import Team
from fineweb.accounts.services import user_create
from localtuner.keys import SERVER_SCOPE, Scope, api_key_resolve
from localtuner.models import LocalApiKey
from onboarding.services import team_create
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
from tests.fakes.openai import OPENAI_KEY, FakeOpenAI
from tests.fakes.together import TOGETHER_KEY, FakeTogether


def _raw_column(connection_id: int) -> str:
    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_key_encrypted, key_last4 FROM providers_connection WHERE id = %s", [connection_id]
        )
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
        connection_create(
            team=team, user=alice, kind="openai_compatible", name="z", base_url="ftp://x", api_key="k"
        )
    assert "http" in caught.value.message_dict["base_url"][0]


def test_names_are_unique_within_a_team(openai_connection, team, alice):
    with pytest.raises(ValidationError):
        connection_create(team=team, user=alice, kind="together", name="OpenAI", api_key="k")


def test_every_new_team_gets_the_built_in_local_provider_with_a_key_of_its_own(
    alice, team, charlie, settings
):
    local = Connection.objects.get(team=team, kind="local")
    theirs = Connection.objects.get(team__memberships__user=charlie, kind="local")
    assert local.name == "Built-in local provider"
    key = local.api_key()
    assert key.startswith("fw-local-") and len(key) > 30
    assert key != theirs.api_key() and key != settings.FINEWEB_LOCAL_API_KEY
    raw = _raw_column(local.id)
    assert raw.startswith("gAAAAA") and raw.endswith("|")  # encrypted, and not even its last four kept
    assert key not in raw and key[-4:] not in raw.split("|")[1]
    assert local.masked_key == "built in"


def test_the_local_key_opens_its_teams_scope_whatever_the_server_key(team, settings):
    settings.FINEWEB_LOCAL_API_KEY = "fw-local-from-settings"
    key = Connection.objects.get(team=team, kind="local").api_key()
    assert key != "fw-local-from-settings"
    assert api_key_resolve(key=key) == Scope(team_id=team.id)
    assert api_key_resolve(key="fw-local-from-settings") == SERVER_SCOPE


def test_the_local_provider_keeps_only_the_hash_of_a_teams_key(team):
    key = Connection.objects.get(team=team, kind="local").api_key()
    (row,) = LocalApiKey.objects.filter(team=team).values()
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(row)


def test_a_local_key_no_fernet_key_reads_is_replaced_by_a_new_one(team, settings):
    old = Connection.objects.get(team=team, kind="local").api_key()
    settings.FINEWEB_FERNET_KEYS = [Fernet.generate_key().decode()]
    call_command("rotate_provider_keys", stdout=io.StringIO())  # no CommandError: nobody must re-enter it
    new = Connection.objects.get(team=team, kind="local").api_key()
    assert new != old
    assert api_key_resolve(key=new) == Scope(team_id=team.id) and api_key_resolve(key=old) is None


def test_building_the_local_provider_heals_a_missing_or_unreadable_key(team, settings):
    local = Connection.objects.get(team=team, kind="local")
    Connection.objects.filter(id=local.id).update(api_key_encrypted="")
    provider = connection_get_provider(connection=Connection.objects.get(id=local.id))
    assert "fineweb-tiny" in [m.id for m in provider.list_models()]
    settings.FINEWEB_FERNET_KEYS = [Fernet.generate_key().decode()]
    provider = connection_get_provider(connection=Connection.objects.get(id=local.id))
    assert "fineweb-tiny" in [m.id for m in provider.list_models()]
    assert LocalApiKey.objects.filter(team=team).count() == 1


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


def test_the_data_migration_gives_existing_local_connections_a_key_of_their_own(db):
    from django.apps import apps

    bare = Team.objects.create(name="Made before local keys existed")
    import_module("providers.migrations.0002_local_connection_for_every_team").create_local_connections(
        apps, None
    )
    local = Connection.objects.get(team=bare, kind="local")
    assert local.api_key_encrypted == ""
    import_module("providers.migrations.0003_local_connection_keys").issue_local_keys(apps, None)
    key = Connection.objects.get(id=local.id).api_key()
    assert api_key_resolve(key=key) == Scope(team_id=bare.id)
    assert key not in _raw_column(local.id)


def test_the_data_migration_moves_a_teams_own_local_jobs_into_its_scope_and_leaves_the_rest(team, charlie):
    from django.apps import apps

    from jobs.models import Job
    from localtuner.models import LocalFile, LocalJob

    other = charlie.memberships.get().team
    for public_id in ("file-ours", "file-result", "file-pending", "file-shared", "file-server"):
        LocalFile.objects.create(
            public_id=public_id, filename="t.jsonl", purpose="fine-tune", bytes=1, sha256="0"
        )
    LocalJob.objects.create(
        public_id="ftjob-ours",
        model="fineweb-tiny",
        training_file="file-ours",
        seed=1,
        result_files=["file-result"],
    )
    LocalJob.objects.create(
        public_id="ftjob-server", model="fineweb-tiny", training_file="file-server", seed=1
    )
    ours, theirs = (Connection.objects.get(team=t, kind="local") for t in (team, other))
    imported = {"source": "imported", "base_model": "fineweb-tiny"}
    Job.objects.create(
        team=team,
        connection=ours,
        provider_job_id="ftjob-ours",
        provider_training_file_id="file-ours",
        **imported,
    )
    Job.objects.create(team=team, connection=ours, provider_training_file_id="file-pending", **imported)
    Job.objects.create(team=team, connection=ours, provider_training_file_id="file-shared", **imported)
    Job.objects.create(team=other, connection=theirs, provider_training_file_id="file-shared", **imported)

    import_module("providers.migrations.0003_local_connection_keys").adopt_local_rows(apps, None)

    assert dict(LocalJob.objects.values_list("public_id", "team_id")) == {
        "ftjob-ours": team.id,
        "ftjob-server": None,
    }
    assert dict(LocalFile.objects.values_list("public_id", "team_id")) == {
        "file-ours": team.id,
        "file-result": team.id,
        "file-pending": team.id,
        "file-shared": None,  # claimed by two teams: left in the server scope
        "file-server": None,
    }


def test_the_local_provider_cannot_be_deleted(team):
    with pytest.raises(ValidationError):
        connection_delete(connection=Connection.objects.get(team=team, kind="local"))


def test_get_provider_builds_the_right_adapter(team, alice, openai_connection):
    together = connection_create(team=team, user=alice, kind="together", name="T", api_key=TOGETHER_KEY)
    compat = connection_create(
        team=team,
        user=alice,
        kind="openai_compatible",
        name="C",
        base_url="https://ft.example.com/v1/",
        api_key="k",
    )
    assert isinstance(connection_get_provider(connection=openai_connection), OpenAIProvider)
    assert isinstance(connection_get_provider(connection=together), TogetherProvider)
    compat_provider = connection_get_provider(connection=compat)
    assert (
        isinstance(compat_provider, OpenAIProvider)
        and compat_provider.base_url == "https://ft.example.com/v1"
    )


def test_the_local_provider_goes_over_http_when_a_base_url_is_set(team, settings):
    settings.FINEWEB_LOCAL_BASE_URL = "http://gpu-box:8000/local/v1"
    provider = connection_get_provider(connection=Connection.objects.get(team=team, kind="local"))
    assert isinstance(provider, OpenAIProvider) and provider.base_url == "http://gpu-box:8000/local/v1"
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
    together = connection_create(
        team=team, user=alice, kind="together", name="T", api_key="tgp_wrong_key_QQQQ"
    )
    ok, message = connection_test(connection=together, client=FakeTogether().client())
    assert not ok
    assert "refused the API key" in message
    assert "tgp_wrong_key_QQQQ" not in message
    assert "tgp_wrong_key_QQQQ" not in caplog.text
    assert Connection.objects.get(id=together.id).last_test_ok is False


def test_deleting_twice_creates_nothing_and_keys_of_other_teams_are_untouched(team, alice, openai_connection):
    other_owner = user_create(username="olga", password="pw-pw-pw-pw-1")
    other_team = team_create(name="Other", owner=other_owner)
    theirs = connection_create(
        team=other_team, user=other_owner, kind="openai", name="OpenAI", api_key="sk-theirs-1111"
    )
    connection_delete(connection=openai_connection)
    assert not Connection.objects.filter(id=openai_connection.id).exists()
    assert Connection.objects.get(id=theirs.id).api_key() == "sk-theirs-1111"
