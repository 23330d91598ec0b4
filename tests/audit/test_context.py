import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from audit.context import AuditContext


def test_context_from_request_takes_user_ip_agent_and_request_id(requester):
    # given
    request = RequestFactory().get("/", REMOTE_ADDR="10.1.2.3", HTTP_USER_AGENT="curl/8.5")
    request.user = requester
    request.request_id = "req-12345678"
    # when
    ctx = AuditContext.from_request(request)
    # then
    assert ctx == AuditContext(
        actor=requester, ip="10.1.2.3", user_agent="curl/8.5", request_id="req-12345678"
    )
    assert (ctx.actor_type, ctx.actor_label) == ("user", "alice")


def test_context_from_request_ignores_forwarded_for():
    # given
    request = RequestFactory().get("/", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="1.1.1.1")
    request.user = AnonymousUser()
    # when
    ctx = AuditContext.from_request(request)
    # then
    assert (ctx.actor, ctx.ip, ctx.actor_type, ctx.actor_label) == (
        None,
        "10.1.2.3",
        "anonymous",
        "anonymous",
    )


def test_context_from_request_takes_the_client_behind_a_trusted_proxy(settings):
    # given
    settings.TRUSTED_PROXIES = ["10.1.2.0/24"]
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.7"
    )
    # when
    ctx = AuditContext.from_request(request)
    # then
    assert ctx.ip == "203.0.113.7"


def test_explicit_actor_wins_over_anonymous_request(requester):
    # given
    request = RequestFactory().post("/api/v1/auth/token/")
    request.user = AnonymousUser()
    # when
    ctx = AuditContext.from_request(request, actor=requester)
    # then
    assert ctx.actor == requester


@pytest.mark.parametrize(
    ("_case", "raw", "ip"),
    [
        ("ipv4", "192.0.2.1", "192.0.2.1"),
        ("ipv6 normalized", "2001:DB8:0:0::1", "2001:db8::1"),
        ("malformed", "not-an-ip", ""),
        ("missing", "", ""),
    ],
)
def test_client_ip_is_normalized(_case, raw, ip):
    # given
    request = RequestFactory().get("/", REMOTE_ADDR=raw)
    # when
    ctx = AuditContext.from_request(request)
    # then
    assert ctx.ip == ip


def test_user_agent_is_cut_to_column_size():
    request = RequestFactory().get("/", HTTP_USER_AGENT="x" * 600)
    assert AuditContext.from_request(request).user_agent == "x" * 512


def test_system_contexts_are_labelled():
    assert AuditContext.worker(task_id="t-1") == AuditContext(system_label="worker", task_id="t-1")
    assert AuditContext.scheduler(job="keys.sync") == AuditContext(
        system_label="scheduler", task_id="keys.sync"
    )
    assert AuditContext.system("system").actor_type == "system"


def test_context_refuses_user_and_system_label_together(requester):
    with pytest.raises(ValueError, match="a user actor or a system label, not both"):
        AuditContext(actor=requester, system_label="worker")


def test_system_context_needs_a_label():
    with pytest.raises(ValueError, match="non-empty label"):
        AuditContext.system(" ")


def test_context_refuses_anonymous_user_as_actor():
    with pytest.raises(ValueError, match="an audit actor is a signed-in user"):
        AuditContext(actor=AnonymousUser())
