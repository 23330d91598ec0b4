"""Fixtures of the web portal tests: signed-in browser-like clients and the workflow fixtures
of the approvals tests (inventory, requests in each state), reused as they are."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.approvals.conftest import (  # noqa: F401 (fixtures)
    approved_request,
    inventory,
    pending_request,
)


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """The fixture users' passwords hashed cheaply: PBKDF2 costs ~0.3 s per user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def client_for(db):
    """`client_for(user)` → a Django test client with that user's session (CSRF checks on)."""

    def make(user) -> Client:
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        return client

    return make
