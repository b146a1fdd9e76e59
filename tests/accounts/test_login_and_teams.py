from __future__ import annotations

import pytest
from django.urls import reverse

from fineweb.accounts.models import Membership, WorkerHeartbeat
from fineweb.accounts.tasks import heartbeat
from tests.factories import PASSWORD
from tests.processes import wait_for


def test_it_redirects_an_anonymous_visitor_to_the_login_page(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_logs_in_with_the_right_password_and_shows_the_team(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD}, follow=True)
    assert response.status_code == 200
    assert b"Alice&#x27;s team" in response.content


def test_it_refuses_a_wrong_password(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert b"didn't match" in response.content
    assert "_auth_user_id" not in client.session


def test_a_user_without_a_team_sees_the_no_team_page(client, django_user_model):
    user = django_user_model.objects.create_user(username="dora", password=PASSWORD)
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 403
    assert b"not in a team yet" in response.content


def test_the_team_creator_is_its_owner_and_a_reviewer_cannot_launch(alice, bob, team):
    assert Membership.objects.get(user=alice, team=team).is_owner
    bob_membership = Membership.objects.get(user=bob, team=team)
    assert bob_membership.can_review and not bob_membership.can_launch


def test_logout_needs_a_post_with_csrf(alice):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(reverse("logout")).status_code == 403
    assert "_auth_user_id" in client.session


def test_user_content_in_the_team_name_is_escaped(alice_client, team):
    team.name = "<script>alert(1)</script>"
    team.save()
    body = alice_client.get("/").content
    assert b"<script>alert(1)</script>" not in body
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_the_home_page_says_when_no_worker_was_seen(alice_client):
    assert b"not seen" in alice_client.get("/").content


@pytest.mark.worker
def test_a_real_worker_records_its_heartbeat_through_the_broker(start_worker, alice_client):
    start_worker(queues="default")
    heartbeat.delay("default")
    row = wait_for(lambda: WorkerHeartbeat.objects.filter(queue="default").first(), message="a heartbeat row")
    assert row.hostname.startswith("test-")
    assert b"online" in alice_client.get("/").content
