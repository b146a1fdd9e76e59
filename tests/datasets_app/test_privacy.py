from __future__ import annotations

from datasets_app.privacy import scan


def kinds(raw: bytes) -> list[str]:
    return [code for code, _ in scan(raw)]


def test_it_finds_each_kind_of_secret_and_personal_data():
    assert kinds(b"mail anna@example.org") == ["privacy_email"]
    assert kinds(b"sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX1234") == ["privacy_openai_key"]
    assert kinds(b"key AKIAIOSFODNN7EXAMPLE here") == ["privacy_aws_key"]
    assert kinds(b"ghp_" + b"a" * 36) == ["privacy_github_token"]
    assert kinds(b"-----BEGIN RSA PRIVATE KEY-----") == ["privacy_private_key"]
    assert kinds(b"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abcdef") == ["privacy_bearer"]
    assert kinds(b"ruf an: +49 30 12345678") == ["privacy_phone"]
    assert kinds(b"(030) 123-4567") == ["privacy_phone"]


def test_dates_versions_prices_and_ids_are_not_phone_numbers():
    for text in (b"on 2024-07-18", b"version 1.2.3", b"1 234 567 EUR", b"order 123456", b"id 12345678901234567890",
                 b"gpt-4o-mini-2024-07-18", b"sk-short"):
        assert kinds(text) == [], text


def test_the_warning_never_shows_the_whole_secret():
    [(_, message)] = scan(b"token sk-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    assert "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" not in message
    assert "(sk-ABC\u2026 (39 characters))" in message
