"""Retries, backoff, Retry-After, typed errors and key masking: the HTTP core every adapter shares."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from providers.errors import (
    AuthError,
    BadRequest,
    MalformedResponse,
    ProviderUnavailable,
    QuotaExceeded,
    RateLimited,
)
from providers.http import RetryPolicy, parse_retry_after
from providers.openai import OpenAIProvider
from tests.fakes.openai import OPENAI_KEY, FakeOpenAI


@pytest.fixture
def fake():
    return FakeOpenAI()


@pytest.fixture
def waits():
    return []


@pytest.fixture
def provider(fake, waits):
    # random() == 1.0 makes the jittered backoff its ceiling, so the waits are predictable.
    return OpenAIProvider(
        client=fake.client(),
        api_key=OPENAI_KEY,
        retry=RetryPolicy(sleep=waits.append, random=lambda: 1.0, max_attempts=4),
    )


def test_a_429_with_retry_after_seconds_is_waited_out_then_succeeds(provider, fake, waits):
    job = fake.add_job()
    fake.fail_next(
        status=429,
        body={"error": {"message": "Rate limit reached", "type": "requests"}},
        headers={"Retry-After": "7"},
    )
    assert provider.get_job(job["id"]).id == job["id"]
    assert waits == [7.0]


def test_a_retry_after_http_date_is_honoured():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    headers = httpx.Headers({"Retry-After": format_datetime(now + timedelta(seconds=30), usegmt=True)})
    assert parse_retry_after(headers, now=now) == 30.0


def test_retry_after_ms_wins_over_retry_after():
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "1500", "retry-after": "9"})) == 1.5


def test_a_huge_retry_after_is_capped(provider, fake, waits):
    job = fake.add_job()
    fake.fail_next(status=429, body={"error": {"message": "slow down"}}, headers={"Retry-After": "86400"})
    provider.get_job(job["id"])
    assert waits == [60.0]


def test_500s_then_success_back_off_exponentially(provider, fake, waits):
    job = fake.add_job()
    fake.fail_next(times=3, status=500, body={"error": {"message": "The server had an error"}})
    assert provider.get_job(job["id"]).id == job["id"]
    assert waits == [0.5, 1.0, 2.0]


def test_jitter_keeps_each_wait_between_half_and_all_of_the_backoff(fake):
    waits: list[float] = []
    provider = OpenAIProvider(
        client=fake.client(),
        api_key=OPENAI_KEY,
        retry=RetryPolicy(sleep=waits.append, random=lambda: 0.0, max_attempts=3),
    )
    job = fake.add_job()
    fake.fail_next(times=2, status=502, body="Bad gateway")
    provider.get_job(job["id"])
    assert waits == [0.25, 0.5]


def test_persistent_500s_become_provider_unavailable_after_the_max_attempts(provider, fake, waits):
    job = fake.add_job()
    fake.fail_next(times=10, status=500, body={"error": {"message": "The server had an error"}})
    with pytest.raises(ProviderUnavailable) as caught:
        provider.get_job(job["id"])
    assert len(fake.requests) == 4
    assert len(waits) == 3
    assert "HTTP 500 after 4 tries" in caught.value.user_message
    assert caught.value.retryable


def test_persistent_429_becomes_rate_limited_with_the_retry_after(provider, fake):
    job = fake.add_job()
    fake.fail_next(
        times=10, status=429, body={"error": {"message": "Rate limit"}}, headers={"Retry-After": "3"}
    )
    with pytest.raises(RateLimited) as caught:
        provider.get_job(job["id"])
    assert caught.value.retry_after == 3.0


def test_insufficient_quota_is_not_retried(provider, fake, waits):
    fake.fail_next(
        status=429,
        body={
            "error": {
                "message": "You exceeded your current quota",
                "type": "insufficient_quota",
                "code": "insufficient_quota",
            }
        },
    )
    with pytest.raises(QuotaExceeded) as caught:
        provider.list_models()
    assert waits == []
    assert "out of credit" in caught.value.user_message


@pytest.mark.parametrize(
    "exc", [httpx.ReadTimeout("read timed out"), httpx.ConnectTimeout("connect timed out")]
)
def test_timeouts_are_retried_then_succeed(provider, fake, waits, exc):
    job = fake.add_job()
    fake.fail_next(times=2, exception=exc)
    assert provider.get_job(job["id"]).id == job["id"]
    assert len(waits) == 2


def test_connection_errors_that_persist_become_provider_unavailable(provider, fake):
    fake.fail_next(times=10, exception=httpx.ConnectError("connection refused"))
    with pytest.raises(ProviderUnavailable) as caught:
        provider.list_models()
    assert "could not reach OpenAI" in caught.value.user_message
    assert "after 4 tries" in caught.value.user_message


def test_persistent_timeouts_become_provider_unavailable(provider, fake):
    fake.fail_next(times=10, exception=httpx.ReadTimeout("slow"))
    with pytest.raises(ProviderUnavailable) as caught:
        provider.list_models()
    assert "did not answer in time" in caught.value.user_message


def test_a_400_is_not_retried(provider, fake, waits):
    fake.fail_next(
        status=400,
        body={
            "error": {
                "message": "Invalid value for n_epochs",
                "type": "invalid_request_error",
                "param": "n_epochs",
                "code": None,
            }
        },
    )
    with pytest.raises(BadRequest) as caught:
        provider.list_models()
    assert waits == []
    assert caught.value.user_message == "OpenAI rejected the request: Invalid value for n_epochs"


def test_a_refused_key_is_an_auth_error_and_the_echoed_key_is_scrubbed(fake, waits):
    provider = OpenAIProvider(
        client=fake.client(), api_key="sk-wrong-key-0000XYZW", retry=RetryPolicy(sleep=waits.append)
    )
    with pytest.raises(AuthError) as caught:
        provider.list_models()
    assert "refused the API key" in caught.value.user_message
    assert "sk-wrong-key-0000XYZW" not in caught.value.user_message
    assert "••••XYZW" in caught.value.user_message
    assert waits == []


def test_an_html_error_page_with_200_is_a_malformed_response(provider, fake):
    fake.fail_next(
        status=200,
        body="<!DOCTYPE html><html><body>Login to the proxy</body></html>",
        headers={"content-type": "text/html"},
    )
    with pytest.raises(MalformedResponse) as caught:
        provider.list_models()
    assert "HTML page instead of JSON" in caught.value.user_message


def test_truncated_json_is_a_malformed_response(provider, fake):
    job = fake.add_job()
    fake.fail_next(
        status=200, body='{"id": "ftjob-1", "status": "runn', headers={"content-type": "application/json"}
    )
    with pytest.raises(MalformedResponse) as caught:
        provider.get_job(job["id"])
    assert "cut off or invalid" in caught.value.user_message


def test_a_json_array_where_an_object_belongs_is_a_malformed_response(provider, fake):
    job = fake.add_job()
    fake.fail_next(status=200, body=[1, 2, 3])
    with pytest.raises(MalformedResponse):
        provider.get_job(job["id"])


def test_an_html_502_page_is_retried_and_its_html_never_reaches_the_user(provider, fake):
    fake.fail_next(
        times=10,
        status=502,
        body="<html><body><h1>502 Bad Gateway</h1></body></html>",
        headers={"content-type": "text/html"},
    )
    with pytest.raises(ProviderUnavailable) as caught:
        provider.list_models()
    assert "<html" not in caught.value.user_message


def test_the_key_never_appears_in_logs_even_at_debug(fake, caplog):
    caplog.set_level(logging.DEBUG)
    provider = OpenAIProvider(
        client=fake.client(), api_key=OPENAI_KEY, retry=RetryPolicy(sleep=lambda s: None, max_attempts=2)
    )
    job = fake.add_job(n_events=3)
    fake.fail_next(status=500, body={"error": {"message": f"boom {OPENAI_KEY}"}})
    provider.get_job(job["id"])
    provider.list_events(job["id"])
    with pytest.raises(AuthError):
        OpenAIProvider(
            client=fake.client(), api_key=OPENAI_KEY + "x", retry=RetryPolicy(sleep=lambda s: None)
        ).list_models()
    assert "authorization" in caplog.text.lower()  # the headers were logged...
    assert "Bearer ••••9876" in caplog.text  # ...masked
    assert OPENAI_KEY not in caplog.text
