"""Shared fixtures: real services (PostgreSQL/Redis when configured), a live Celery worker
subprocess, users for every portal role and an API client per user."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.roles import Role
from tests.factories import TeamFactory, UserFactory
from tests.support.hsm import start_test_hsm
from tests.support.services import describe_services, require_real_services
from tests.support.worker import LiveWorker

PASSWORD = "correct-horse-battery"


def pytest_report_header(config):
    return describe_services()


def pytest_sessionstart(session):
    # CI (KEYWARDEN_REQUIRE_SERVICES=1) must run on PostgreSQL and Redis, never fall back.
    if os.environ.get("KEYWARDEN_REQUIRE_SERVICES") == "1":
        require_real_services()


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """Passwords hashed cheaply in every test: Django's PBKDF2 (1,000,000 iterations) costs about
    0.6 s per hash here, paid by every fixture user and every password sign-in. Production and
    the demo keep Django's default hashers; tests of sign-in check behaviour, not hash cost."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- teams and users per role -------------------------------------------------------------------
@pytest.fixture
def payments_team(db):
    return TeamFactory(slug="payments", name="Payments", key_prefix="pay-")


@pytest.fixture
def identity_team(db):
    return TeamFactory(slug="identity", name="Identity", key_prefix="idn-")


@pytest.fixture
def requester(payments_team):
    return UserFactory(username="alice", access={"teams": [payments_team]})


@pytest.fixture
def other_requester(identity_team):
    return UserFactory(username="bob", access={"teams": [identity_team]})


@pytest.fixture
def custodian(db):
    return UserFactory(username="carol", access={"roles": [Role.CUSTODIAN]})


@pytest.fixture
def second_custodian(db):
    return UserFactory(username="dave", access={"roles": [Role.CUSTODIAN]})


@pytest.fixture
def third_custodian(db):
    return UserFactory(username="grace", access={"roles": [Role.CUSTODIAN]})


@pytest.fixture
def admin_user(db):
    return UserFactory(username="erin", access={"roles": [Role.ADMIN]})


@pytest.fixture
def auditor(db):
    return UserFactory(username="frank", access={"roles": [Role.AUDITOR]})


@pytest.fixture
def outsider(db):
    """Signed in, but in no team and with no role."""
    return UserFactory(username="mallory")


@pytest.fixture
def user_for_role(request):
    """`user_for_role("custodian")` → the fixture user holding that role."""
    fixture_for = {
        Role.REQUESTER: "requester",
        Role.CUSTODIAN: "custodian",
        Role.ADMIN: "admin_user",
        Role.AUDITOR: "auditor",
        "outsider": "outsider",
    }
    return lambda role: request.getfixturevalue(fixture_for[role])


@pytest.fixture
def api_client_for(db):
    """`api_client_for(user)` → an APIClient that sends a real API token of that user."""

    def make(user) -> APIClient:
        _, token = AuthToken.objects.create(user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client

    return make


@pytest.fixture
def anonymous_client():
    return APIClient()


# --- live Celery worker ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def hsm_session(tmp_path_factory):
    """One emulator subprocess for the whole run; settings point the gateway at it."""
    hsm = start_test_hsm(tmp_path_factory.mktemp("hsm"))
    yield hsm
    hsm.process.stop()


@pytest.fixture
def hsm(hsm_session):
    """The emulator, emptied for this test (Keywarden's role bootstrapped again)."""
    hsm_session.reset()
    return hsm_session


@pytest.fixture(scope="session")
def live_worker_process(django_db_setup, django_db_blocker, tmp_path_factory, hsm_session):
    """One real `celery worker` subprocess for the run, on the configured broker, reading the
    test database."""
    worker = LiveWorker(log_dir=tmp_path_factory.mktemp("worker"))
    with django_db_blocker.unblock():
        worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def live_worker(live_worker_process):
    """The run's worker, left idle when the test ends, before the test's flush empties the
    database under it (a TRUNCATE beside a running task can deadlock).

    Tests that use it need committed data: mark them `django_db(transaction=True)`."""
    yield live_worker_process
    if not live_worker_process.wait_idle():
        # Work the test set off is still running or waiting: it ends with the test, so the
        # next test never finds both pool slots taken or a queue ahead of its own task.
        live_worker_process.restart()


# --- audit trail ----------------------------------------------------------------------------------
# TRUNCATE triggers of the append-only audit tables, dropped in the TEST database only.
TEST_DATABASE_TRUNCATE_TRIGGERS = (
    ("audit_event_no_truncate", "audit_auditevent"),
    ("audit_checkpoint_no_truncate", "audit_auditcheckpoint"),
)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, where Django's flush may empty the append-only audit tables.

    Transactional tests end with a flush (TRUNCATE on PostgreSQL, DELETE on SQLite), which the
    audit triggers refuse whatever a session sets. On the TEST database only: PostgreSQL loses
    its TRUNCATE triggers (UPDATE and DELETE stay refused; tests/audit/test_immutability.py
    re-creates them to prove the refusal); SQLite loses its DELETE triggers. A run whose tests
    need no database sets none up: then nothing is touched (that would be the real database)."""
    from django.db import connection

    if not _is_test_database(connection):
        yield
        return
    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                for trigger, table in TEST_DATABASE_TRUNCATE_TRIGGERS:
                    cursor.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
            else:
                cursor.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
                cursor.execute("DROP TRIGGER IF EXISTS audit_checkpoint_no_delete")
        connection.close()
    yield


FLUSH_TRIES = 3


@pytest.fixture(scope="session", autouse=True)
def _flush_outlasts_deadlocks():
    """A transactional test's flush (one TRUNCATE of every table) tried again when PostgreSQL
    picks it as a deadlock's victim. The session's live worker writes its heartbeat and seals
    audit events on its own timers, between tests too; a TRUNCATE taking its tables one by one
    can meet such a write holding one it wants. The victim's transaction rolled back whole, so
    the flush simply runs again (up to FLUSH_TRIES times)."""
    from django.db import OperationalError
    from django.db.backends.base.operations import BaseDatabaseOperations
    from psycopg.errors import DeadlockDetected

    flush = BaseDatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        for tries_left in reversed(range(FLUSH_TRIES)):
            try:
                return flush(self, sql_list)
            except OperationalError as exc:
                if tries_left == 0 or not isinstance(exc.__cause__, DeadlockDetected):
                    raise

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseDatabaseOperations, "execute_sql_flush", execute_sql_flush)
        yield


def _is_test_database(connection) -> bool:
    name = str(connection.settings_dict["NAME"])
    if connection.vendor == "sqlite" and connection.creation.is_in_memory_db(name):
        return True
    return Path(name).name.startswith("test_")


# --- a real OpenID Connect provider standing in for Microsoft Entra ID ---------------------------
@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory):
    """node-oidc-provider over HTTPS (CA made for this run), shaped like one Entra ID tenant with
    one confidential client for http://testserver; accounts are set per test."""
    from tests.support.oidc import OidcProvider

    provider = OidcProvider(
        work_dir=tmp_path_factory.mktemp("oidc"),
        redirect_uri="http://testserver/auth/entra/callback/",
        post_logout_redirect_uri="http://testserver/accounts/login/",
    )
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture
def entra_settings(settings, oidc_provider):
    """ENTRA_* pointed at `oidc_provider`, with one Entra group per granted portal role."""
    settings.ENTRA_TENANT_ID = oidc_provider.tenant_id
    settings.ENTRA_CLIENT_ID = oidc_provider.client_id
    settings.ENTRA_CLIENT_SECRET = oidc_provider.client_secret
    settings.ENTRA_AUTHORITY = oidc_provider.authority
    settings.ENTRA_VALIDATE_AUTHORITY = False
    settings.ENTRA_CA_FILE = str(oidc_provider.ca_file)
    settings.ENTRA_REDIRECT_URI = oidc_provider.redirect_uri
    settings.ENTRA_POST_LOGOUT_REDIRECT_URI = oidc_provider.post_logout_redirect_uri
    settings.ENTRA_ROLE_GROUPS = {
        "custodian": "6a1d0c6e-0000-4000-8000-00000000c001",
        "admin": "6a1d0c6e-0000-4000-8000-00000000a001",
        "auditor": "6a1d0c6e-0000-4000-8000-00000000d001",
    }
    return settings


# --- session hygiene ------------------------------------------------------------------------------
@pytest.fixture(scope="session", autouse=True)
def _end_lingering_test_db_sessions(django_db_setup, django_db_blocker):
    """Worker processes and server threads may still hold a connection when the run ends; end
    them so the test database can be dropped cleanly."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql" and _is_test_database(connection):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
        connection.close()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache: the sign-in throttles count attempts there, so
    one test's sign-ins must not throttle the next one's."""
    from django.core.cache import cache

    cache.clear()
