"""Password guessing is throttled: a username (from any address) and an address (for any
usernames) are locked out after SIGN_IN_FAILURE_LIMIT wrong passwords (django-axes), on the API
and the sign-in page; the token endpoint also throttles each address and each username. The
address is the client's own: X-Forwarded-For counts only from a trusted proxy."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.cache import cache
from knox.models import AuthToken

from audit.models import AuditEvent
from tests.conftest import PASSWORD

TOKEN_URL = "/api/v1/auth/token/"


@pytest.fixture(autouse=True)
def fresh_throttle():
    """The API's own per-address throttle lives in the cache: leave it as other tests find it."""
    cache.clear()
    yield
    cache.clear()


def token_for(client, username: str, password: str, **headers):
    body = {"username": username, "password": password}
    return client.post(TOKEN_URL, body, format="json", **headers)


def guess_wrong(client, username: str, times: int, **headers) -> list[int]:
    return [token_for(client, username, "wrong", **headers).status_code for _ in range(times)]


def forwarded_for(number: int) -> dict:
    """A different X-Forwarded-For on every call, as a guesser rotating the header sends."""
    return {"HTTP_X_FORWARDED_FOR": f"198.51.100.{number}"}


def sign_in_page(client, username: str, password: str, **headers):
    return client.post("/accounts/login/", {"username": username, "password": password}, **headers)


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


def test_a_locked_out_username_is_refused_from_every_address(anonymous_client, requester):
    # given
    guess_wrong(anonymous_client, "alice", settings.AXES_FAILURE_LIMIT, REMOTE_ADDR="192.0.2.1")
    # when
    response = token_for(anonymous_client, "alice", PASSWORD, REMOTE_ADDR="192.0.2.2")
    # then
    assert response.status_code == 429
    assert AuthToken.objects.count() == 0


def test_a_locked_out_address_is_refused_for_every_username(
    anonymous_client, requester, other_requester
):
    # given: a different username on every guess, from one address
    for number in range(settings.AXES_FAILURE_LIMIT):
        token_for(anonymous_client, f"guess-{number}", "wrong", REMOTE_ADDR="192.0.2.1")
    # when
    from_there = token_for(anonymous_client, "bob", PASSWORD, REMOTE_ADDR="192.0.2.1")
    from_elsewhere = token_for(anonymous_client, "bob", PASSWORD, REMOTE_ADDR="192.0.2.2")
    # then
    assert from_there.status_code == 429
    assert from_elsewhere.status_code == 200
    assert AuthToken.objects.count() == 1


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


def test_a_rotating_forwarded_for_does_not_bypass_the_lockout(anonymous_client, requester):
    # given
    limit = settings.AXES_FAILURE_LIMIT
    # when: every guess claims another client address
    statuses = [
        token_for(anonymous_client, f"guess-{n}", "wrong", **forwarded_for(n)).status_code
        for n in range(limit)
    ]
    locked = token_for(anonymous_client, "alice", PASSWORD, **forwarded_for(limit))
    # then: they all came from REMOTE_ADDR, which is now locked out
    assert statuses == [401] * (limit - 1) + [429]
    assert locked.status_code == 429
    assert AuthToken.objects.count() == 0


def test_a_rotating_forwarded_for_does_not_bypass_the_address_throttle(
    anonymous_client, requester, settings
):
    # given: a lockout too lax to stop anything first
    settings.AXES_FAILURE_LIMIT = 100
    # when: 40 guesses at 40 usernames, each claiming another client address
    statuses = [
        token_for(anonymous_client, f"guess-{n}", "wrong", **forwarded_for(n)).status_code
        for n in range(40)
    ]
    # then: the 10/min address throttle saw one client
    assert statuses == [401] * 10 + [429] * 30


def test_the_token_endpoint_throttles_each_username_across_addresses(
    anonymous_client, requester, settings
):
    # given
    settings.AXES_FAILURE_LIMIT = 100
    # when: one username guessed from 12 real addresses
    statuses = [
        token_for(anonymous_client, "alice", "wrong", REMOTE_ADDR=f"192.0.2.{n}").status_code
        for n in range(1, 13)
    ]
    # then
    assert statuses == [401] * 10 + [429] * 2


def test_a_trusted_proxy_passes_on_the_client_address(anonymous_client, requester, settings):
    # given: the proxy at 10.0.0.5 appends what it saw to what the client claimed
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    via_proxy = {"REMOTE_ADDR": "10.0.0.5"}
    # when: one client behind the proxy guesses, claiming a new address each time
    for number in range(settings.AXES_FAILURE_LIMIT):
        claimed = f"198.51.100.{number}, 203.0.113.7"
        token_for(
            anonymous_client, f"guess-{number}", "wrong", HTTP_X_FORWARDED_FOR=claimed, **via_proxy
        )
    locked = token_for(
        anonymous_client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.7", **via_proxy
    )
    other_client = token_for(
        anonymous_client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.8", **via_proxy
    )
    # then: 203.0.113.7 is locked out, the proxy and the next client behind it are not
    assert locked.status_code == 429
    assert other_client.status_code == 200
    failed = AuditEvent.objects.filter(action="auth.login_failed")
    assert set(failed.values_list("client_ip", flat=True)) == {"203.0.113.7"}


def test_the_sign_in_page_refuses_the_eleventh_failure_in_a_minute_and_audits_it(
    client, requester, other_requester
):
    # when: 11 wrong passwords in a row, at two usernames, from one address
    responses = [
        sign_in_page(client, ("alice", "bob")[n % 2], "wrong", REMOTE_ADDR="192.0.2.1")
        for n in range(11)
    ]
    # then: refused once the lockout struck, the 11th included, each refusal audited
    limit = settings.AXES_FAILURE_LIMIT
    assert [r.status_code for r in responses] == [200] * (limit - 1) + [429] * (12 - limit)
    assert "_auth_user_id" not in client.session
    actions = list(AuditEvent.objects.order_by("sequence").values_list("action", "client_ip"))
    assert actions.count(("auth.login_failed", "192.0.2.1")) == 11
    assert actions.count(("auth.locked_out", "192.0.2.1")) == 12 - limit


def test_a_lockout_is_audited_with_its_limits(client, requester):
    # when
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in_page(client, "alice", "wrong", REMOTE_ADDR="192.0.2.1")
    # then
    (event,) = AuditEvent.objects.filter(action="auth.locked_out")
    assert (event.actor_type, event.target_id, event.target_name, event.client_ip) == (
        "anonymous",
        str(requester.pk),
        "alice",
        "192.0.2.1",
    )
    assert event.after == {
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "lockout_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
    }
