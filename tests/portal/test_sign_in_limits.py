"""Password guessing is throttled: a username from one address is locked out after
SIGN_IN_FAILURE_LIMIT wrong passwords in a row (django-axes), on the API and the sign-in page."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.cache import cache
from knox.models import AuthToken

from tests.conftest import PASSWORD

TOKEN_URL = "/api/v1/auth/token/"


@pytest.fixture(autouse=True)
def fresh_throttle():
    """The API's own per-address throttle lives in the cache: leave it as other tests find it."""
    cache.clear()
    yield
    cache.clear()


def token_for(client, username: str, password: str):
    return client.post(TOKEN_URL, {"username": username, "password": password}, format="json")


def guess_wrong(client, username: str, times: int) -> list[int]:
    return [token_for(client, username, "wrong").status_code for _ in range(times)]


def test_api_locks_a_username_out_after_the_failure_limit(anonymous_client, requester):
    # given
    limit = settings.AXES_FAILURE_LIMIT
    # when
    statuses = guess_wrong(anonymous_client, "alice", limit)
    locked = token_for(anonymous_client, "alice", PASSWORD)
    # then: even the right password is refused now, with the reason and when to come back
    assert statuses[: limit - 1] == [401] * (limit - 1)
    assert locked.status_code == 429
    assert locked.json()["detail"].startswith("Too many failed sign-ins for this account")
    assert locked["Retry-After"] == str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    assert AuthToken.objects.count() == 0


def test_the_lockout_is_per_username_and_address(anonymous_client, requester, other_requester):
    guess_wrong(anonymous_client, "alice", settings.AXES_FAILURE_LIMIT)
    assert token_for(anonymous_client, "bob", PASSWORD).status_code == 200


def test_a_success_resets_the_count(anonymous_client, requester):
    limit = settings.AXES_FAILURE_LIMIT
    guess_wrong(anonymous_client, "alice", limit - 1)
    assert token_for(anonymous_client, "alice", PASSWORD).status_code == 200
    guess_wrong(anonymous_client, "alice", limit - 1)
    assert token_for(anonymous_client, "alice", PASSWORD).status_code == 200


def test_the_lockout_ends_after_the_cool_off(anonymous_client, requester):
    # given: locked out
    guess_wrong(anonymous_client, "alice", settings.AXES_FAILURE_LIMIT)
    # when: the cool-off has passed (the attempts moved back in time)
    cooled_off = settings.AXES_COOLOFF_TIME + timedelta(minutes=1)
    for attempt in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=attempt.pk).update(
            attempt_time=attempt.attempt_time - cooled_off
        )
    # then
    assert token_for(anonymous_client, "alice", PASSWORD).status_code == 200


def test_sign_in_page_locks_out_with_a_page_that_says_why(client, requester):
    # given
    for _ in range(settings.AXES_FAILURE_LIMIT):
        wrong = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
        assert wrong.status_code in (200, 429)
    # when
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    # then
    assert response.status_code == 429
    assert "Too many failed sign-ins for this account" in response.content.decode()
    assert "_auth_user_id" not in client.session
