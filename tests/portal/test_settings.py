"""Configuration comes only from the environment; unsafe production config fails fast."""

import subprocess
import sys

import pytest

from tests.support.worker import ROOT

PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x7!kq2-production-like-secret-key-with-enough-entropy-0123456789abcdef",
    "ALLOWED_HOSTS": "keywarden.example.com",
    "DATABASE_URL": "postgres://keywarden@db.example.com:5432/keywarden",
    "CELERY_BROKER_URL": "redis://redis.example.com:6379/0",
    "HSM_URL": "https://contoso.managedhsm.azure.net",
    "HSM_CREDENTIAL": "azure",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_PRELOAD": "true",
    "SECURE_COOKIES": "true",
}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "KEYWARDEN_DATA_DIR": "/tmp/keywarden-settings-test"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_refuses_to_start_with_default_secret_key_when_debug_off():
    result = run_manage("check", env={"DEBUG": "false"})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_demo_mode_starts_with_default_secret_key():
    result = run_manage("check", env={"DEBUG": "true"})
    assert result.returncode == 0, result.stderr


def test_deploy_check_passes_with_production_variables():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_check_warns_without_https_settings():
    env = {**PRODUCTION_ENV, "SECURE_SSL_REDIRECT": "false", "SECURE_HSTS_SECONDS": "0"}
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "security.W004" in result.stderr


@pytest.mark.parametrize(
    ("_case", "variable", "value", "message"),
    [
        ("bad boolean", "DEBUG", "maybe", "DEBUG must be a boolean"),
        ("bad credential mode", "HSM_CREDENTIAL", "password", "HSM_CREDENTIAL must be"),
        ("bad integer", "SECURE_HSTS_SECONDS", "a year", "SECURE_HSTS_SECONDS must be an integer"),
        ("bad role map", "ENTRA_ROLE_GROUPS", "custodian", "ENTRA_ROLE_GROUPS entries"),
        (
            "checkpoints signed as Keywarden",
            "HSM_AUDIT_PRINCIPAL_ID",
            "00000000-0000-0000-0000-00000000b001",
            "HSM_AUDIT_PRINCIPAL_ID must differ from HSM_PRINCIPAL_ID",
        ),
        ("no checkpoints", "AUDIT_CHECKPOINT_EVENTS", "0", "AUDIT_CHECKPOINT_EVENTS, _SECONDS"),
        (
            "notifications held a minute",
            "NOTIFY_GATHER_SECONDS",
            "60",
            "NOTIFY_GATHER_SECONDS must be between 0 and 10",
        ),
    ],
)
def test_bad_environment_values_fail_with_a_clear_message(_case, variable, value, message):
    result = run_manage("check", env={**PRODUCTION_ENV, variable: value})
    assert result.returncode != 0
    assert message in result.stderr
