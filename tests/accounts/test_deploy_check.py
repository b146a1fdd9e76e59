"""`manage.py check --deploy` is clean with the production variables of docs/operations.md."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.processes import ROOT

PRODUCTION_ENV = {
    "FINEWEB_SECRET_KEY": "x" * 20 + "-a-long-random-production-secret-key-0123456789",
    "FINEWEB_ALLOWED_HOSTS": "fineweb.example.com",
    "FINEWEB_SECURE_SSL_REDIRECT": "1",
    "FINEWEB_SECURE_COOKIES": "1",
    "FINEWEB_HSTS_SECONDS": "31536000",
    "FINEWEB_HSTS_PRELOAD": "1",
    "FINEWEB_BEHIND_PROXY": "1",
    "FINEWEB_DEBUG": "0",
}


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
