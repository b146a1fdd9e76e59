"""The team page: who is in the team; an owner adds members (a generated password shown once),
changes roles and removes members; the last owner stays; other roles read only; other teams 404."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fineweb.accounts.models import Membership
from fineweb.accounts.services import TeamError, team_member_remove, team_member_set_role
from tests.factories import PASSWORD, client_for

User = get_user_model()


def added_password(response) -> str:
    match = re.search(rb'data-testid="new-password"><code>([^<]+)</code>', response.content)
    assert match, response.content[-2000:]
    return match.group(1).decode()


def test_every_member_sees_the_members_and_their_roles(alice, bob, team, bob_client):
    response = bob_client.get(reverse("team"))
    assert response.status_code == 200
    text = response.content.decode()
    assert 'data-username="alice"' in text and 'data-username="bob"' in text
    assert "Only an owner adds or removes members" in text
    assert 'data-testid="add-member"' not in text  # no form for a reviewer
    assert "bob (you)" in text


def test_an_owner_adds_a_reviewer_who_logs_in_with_the_password_shown_once(alice_client, team):
    response = alice_client.post(reverse("team_member_add"), {"username": "dora", "role": "reviewer"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    password = added_password(response)
    assert len(password) >= 16
    dora = User.objects.get(username="dora")
    assert dora.check_password(password) and password not in dora.password  # only the hash is kept
    assert Membership.objects.get(user=dora).role == "reviewer"
    assert Membership.objects.get(user=dora).team == team
    # The password is nowhere else: not in the team page, not in a message for the next page.
    assert password not in alice_client.get(reverse("team")).content.decode()

    dora_client = Client()
    login = dora_client.post(reverse("login"), {"username": "dora", "password": password}, follow=True)
    assert login.status_code == 200 and dora_client.session.get("_auth_user_id") == str(dora.pk)
    assert team.name.replace("'", "&#x27;") in login.content.decode()
    # ... and changes it.
    changed = dora_client.post(
        reverse("password_change"),
        {
            "old_password": password,
            "new_password1": "a new long passphrase 7",
            "new_password2": "a new long passphrase 7",
        },
    )
    assert changed.status_code == 302 and changed["Location"] == reverse("password_change_done")
    dora.refresh_from_db()
    assert dora.check_password("a new long passphrase 7")


def test_a_taken_username_is_refused_with_a_sentence_even_from_another_team(alice_client, charlie, team):
    response = alice_client.post(reverse("team_member_add"), {"username": "Charlie", "role": "reviewer"})
    assert response.status_code == 400
    assert "already taken on this server" in response.content.decode()
    assert not Membership.objects.filter(team=team, user=charlie).exists()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    username=st.text(max_size=200),
    role=st.one_of(st.text(max_size=20), st.sampled_from(Membership.Role.values)),
)
def test_any_posted_username_and_role_gets_a_page_never_a_500(alice_client, team, username, role):
    before = Membership.objects.filter(team=team).count()
    response = alice_client.post(reverse("team_member_add"), {"username": username, "role": role})
    assert response.status_code in (200, 400)
    after = Membership.objects.filter(team=team).count()
    assert after == before + (1 if response.status_code == 200 else 0)
    if response.status_code == 400:
        assert 'class="error"' in response.content.decode()


def test_an_owner_changes_a_role_and_the_new_role_is_enforced_at_once(alice_client, bob, team):
    bob_client = client_for(bob)
    assert bob_client.get(reverse("jobs:new")).status_code == 403  # a reviewer cannot launch
    membership = Membership.objects.get(user=bob)
    response = alice_client.post(
        reverse("team_member_role", args=[membership.id]), {"role": "launcher"}, follow=True
    )
    assert "bob is now launcher." in response.content.decode()
    assert Membership.objects.get(user=bob).role == "launcher"
    assert bob_client.get(reverse("jobs:new")).status_code == 200


def test_the_last_owner_can_neither_step_down_nor_be_removed(alice, alice_client, bob, team):
    own = Membership.objects.get(user=alice)
    response = alice_client.post(
        reverse("team_member_role", args=[own.id]), {"role": "reviewer"}, follow=True
    )
    assert "only owner" in response.content.decode()
    response = alice_client.post(reverse("team_member_remove", args=[own.id]), follow=True)
    assert "only owner" in response.content.decode()
    assert Membership.objects.get(user=alice).role == "owner"
    # With a second owner, the first may step down.
    team_member_set_role(membership=Membership.objects.get(user=bob), role="owner")
    team_member_set_role(membership=own, role="reviewer")
    assert Membership.objects.get(user=alice).role == "reviewer"
    with pytest.raises(TeamError):
        team_member_remove(membership=Membership.objects.get(user=bob))


def test_a_removed_member_sees_nothing_of_the_team_from_their_next_request(alice_client, bob, team):
    bob_client = client_for(bob)
    assert bob_client.get(reverse("datasets:list")).status_code == 200
    membership = Membership.objects.get(user=bob)
    response = alice_client.post(reverse("team_member_remove", args=[membership.id]), follow=True)
    assert "bob is no longer in the team." in response.content.decode()
    assert bob_client.get(reverse("datasets:list")).status_code == 403  # the no-team page
    assert User.objects.filter(username="bob").exists()


@pytest.mark.parametrize(
    "name, args, data",
    [
        ("team_member_add", [], {"username": "eve", "role": "owner"}),
        ("team_member_role", ["alice"], {"role": "reviewer"}),
        ("team_member_remove", ["alice"], {}),
    ],
)
def test_reviewers_and_launchers_get_403_and_other_teams_404(alice, bob, team, charlie, name, args, data):
    launcher = User.objects.create_user(username="lena", password=PASSWORD)
    Membership.objects.create(team=team, user=launcher, role="launcher")
    target = [Membership.objects.get(user=alice).id for _ in args]
    for user in (bob, launcher):
        assert client_for(user).post(reverse(name, args=target), data).status_code == 403
    # Charlie owns another team: alice's members are not his to touch.
    status = client_for(charlie).post(reverse(name, args=target), data).status_code
    assert status == (404 if args else 200)
    assert Membership.objects.get(user=alice).role == "owner"
    if not args:  # an add from charlie's team goes into charlie's team, never alice's
        assert Membership.objects.get(user__username="eve").team != team


def test_the_pages_need_a_login_and_the_changes_need_csrf(alice, team):
    anonymous = Client()
    assert anonymous.get(reverse("team")).status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(reverse("team_member_add"), {"username": "eve", "role": "owner"}).status_code == 403
    assert not User.objects.filter(username="eve").exists()


def test_usernames_are_escaped_on_the_page(alice_client, team):
    # Django's username rules leave no markup characters; whatever was stored is still escaped.
    user = User.objects.create_user(username="<b>x</b>", password=PASSWORD)
    Membership.objects.create(team=team, user=user, role="reviewer")
    text = alice_client.get(reverse("team")).content.decode()
    assert "<b>x</b>" not in text and "&lt;b&gt;x&lt;/b&gt;" in text


@pytest.mark.django_db(transaction=True)
def test_two_owners_stepping_down_at_once_leave_one_owner():
    """Each change locks the team's row first: the second waits for the first and then sees that
    its member is the last owner."""
    import threading

    from django.db import connection, transaction

    from fineweb.accounts.services import user_create
    from onboarding.services import team_create

    first = user_create(username="olga", password=PASSWORD)
    team = team_create(name="Two owners", owner=first)
    second = user_create(username="oskar", password=PASSWORD)
    Membership.objects.create(team=team, user=second, role="owner")
    m1, m2 = (Membership.objects.get(user=u) for u in (first, second))
    inside, outcome = threading.Event(), {}

    def demote_first_slowly():
        try:
            with transaction.atomic():
                team_member_set_role(membership=m1, role="reviewer")
                inside.set()  # holds the team's lock until this transaction ends
                threading.Event().wait(1.0)
        finally:
            connection.close()

    def demote_second():
        inside.wait(10)
        try:
            team_member_set_role(membership=m2, role="reviewer")
            outcome["second"] = "demoted"
        except TeamError as exc:
            outcome["second"] = str(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=demote_first_slowly), threading.Thread(target=demote_second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert "only owner" in outcome["second"]
    assert list(
        Membership.objects.filter(team=team, role="owner").values_list("user__username", flat=True)
    ) == ["oskar"]
