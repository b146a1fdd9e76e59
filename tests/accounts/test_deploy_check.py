"""`manage.py check --deploy` is clean with the production variables of docs/operations.md."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from cryptography.fernet import Fernet

from tests.processes import ROOT

# Values for the docs' "..." placeholders.
PLACEHOLDERS = {
    "FINEWEB_SECRET_KEY": "x" * 20 + "-a-long-random-production-secret-key-0123456789",
    "DATABASE_URL": "postgres://fineweb:secret@db.example.com:5432/fineweb",
    "CELERY_BROKER_URL": "redis://redis.example.com:6379/0",
    "FINEWEB_FERNET_KEYS": Fernet.generate_key().decode(),
}


def production_env_from_docs() -> dict:
    """The variables the production checklist of docs/operations.md exports."""
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    block = text.split("## Production checklist", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    exports = block.split("manage.py", 1)[0]
    env = dict(re.findall(r"\b([A-Z][A-Z0-9_]*)=(\S+)", exports))
    return {
        name: PLACEHOLDERS.get(name, value) if value.endswith("...") else value for name, value in env.items()
    }


PRODUCTION_ENV = {**production_env_from_docs(), "FINEWEB_DEBUG": "0"}


def run_check(tmp_path, extra: dict) -> subprocess.CompletedProcess:
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for Playwright; production never has it.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(FINEWEB_DATA_DIR=str(tmp_path), **extra)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_docs_checklist_sets_every_security_variable():
    for name in (
        "FINEWEB_SECRET_KEY",
        "FINEWEB_SECURE_SSL_REDIRECT",
        "FINEWEB_HSTS_SECONDS",
        "FINEWEB_HSTS_PRELOAD",
    ):
        assert name in PRODUCTION_ENV
    assert not any(value.endswith("...") for value in PRODUCTION_ENV.values())


def test_check_deploy_is_clean_with_the_production_variables(tmp_path):
    result = run_check(tmp_path, PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_without_them(tmp_path):
    result = run_check(tmp_path, {})
    assert result.returncode != 0
    assert "SECURE_HSTS_SECONDS" in result.stdout + result.stderr


def test_a_bad_boolean_is_a_clear_start_up_error(tmp_path):
    result = run_check(tmp_path, {"FINEWEB_DEBUG": "maybe"})
    assert result.returncode != 0
    assert "FINEWEB_DEBUG must be a boolean" in result.stderr
