"""Login throttling (django-axes): after FINEWEB_LOGIN_FAILURE_LIMIT failures for one username, or
from one address, logins are refused with a clear sentence, even with the right password, until
the cool-off ends; then the right user logs in again. A successful login clears the count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client

from fineweb.accounts.throttle import client_ip
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

LIMIT = 5


@pytest.fixture(autouse=True)
def throttle(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def login(username: str, password: str, ip: str = "203.0.113.7", **extra):
    return Client(REMOTE_ADDR=ip, **extra).post("/login/", {"username": username, "password": password})


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/"


def test_the_right_password_logs_in(alice):
    assert logged_in(login("alice", PASSWORD))


def test_fifty_wrong_passwords_lock_the_user_out_even_with_the_right_one(alice):
    answers = [login("alice", f"wrong-{i}").status_code for i in range(50)]
    assert answers[: LIMIT - 1] == [200] * (LIMIT - 1)  # the form again, "didn't match"
    assert set(answers[LIMIT:]) == {429}
    response = login("alice", PASSWORD)
    assert response.status_code == 429 and not logged_in(response)
    page = " ".join(response.content.decode().split())
    assert "Too many failed logins for this username or from your address" in page
    assert "paused for 15 minutes" in page
    assert "didn't match" not in page


def test_one_username_is_locked_whatever_address_the_guesses_come_from(alice):
    for i in range(LIMIT):
        login("alice", "wrong", ip=f"198.51.100.{i + 1}")
    assert login("alice", PASSWORD, ip="192.0.2.200").status_code == 429


def test_one_address_is_locked_whatever_usernames_it_tries(alice, bob):
    for i in range(LIMIT):
        login(f"nobody-{i}", "wrong", ip="198.51.100.9")
    assert login("bob", PASSWORD, ip="198.51.100.9").status_code == 429
    assert logged_in(login("bob", PASSWORD, ip="198.51.100.10"))  # another address: fine


def test_the_lock_ends_after_the_cool_off_and_the_right_user_logs_in(alice):
    for _ in range(LIMIT + 3):
        login("alice", "wrong")
    assert login("alice", PASSWORD).status_code == 429
    # Time passes (failures during the lock did not extend it).
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.first().attempt_time - timedelta(minutes=16)
    )
    assert logged_in(login("alice", PASSWORD))


def test_a_successful_login_clears_the_failures(alice):
    for _ in range(LIMIT - 1):
        login("alice", "wrong")
    assert logged_in(login("alice", PASSWORD))
    for _ in range(LIMIT - 1):
        login("alice", "wrong")
    assert logged_in(login("alice", PASSWORD))


def test_behind_a_proxy_the_address_is_the_one_the_proxy_saw(settings, rf):
    settings.FINEWEB_PROXY_COUNT = 1
    spoofed = rf.post("/login/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.20")
    assert client_ip(spoofed) == "198.51.100.20"  # what the client wrote itself is ignored
    settings.FINEWEB_PROXY_COUNT = 0
    assert client_ip(spoofed) == "10.0.0.2"


def test_behind_a_proxy_two_clients_are_throttled_apart(settings, alice, bob):
    settings.FINEWEB_PROXY_COUNT = 1
    for i in range(LIMIT):
        login(f"nobody-{i}", "wrong", ip="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.30")
    locked = login("bob", PASSWORD, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.30")
    assert locked.status_code == 429
    assert logged_in(login("bob", PASSWORD, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.31"))
