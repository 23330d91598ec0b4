import pytest

from accounts.models import User
from audit.models import AuditEvent


@pytest.fixture
def superuser_client(client, db):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "x"))
    return client


def test_admin_lists_events(superuser_client, write_events):
    # given
    write_events(2)
    # when
    response = superuser_client.get("/admin/audit/auditevent/")
    # then
    assert response.status_code == 200
    listed = [(e.sequence, e.action) for e in response.context["cl"].result_list]
    assert listed == [(3, "team.updated"), (2, "team.updated"), (1, "auth.login")]


@pytest.mark.parametrize(
    ("_case", "method", "path"),
    [
        ("add", "get", "/admin/audit/auditevent/add/"),
        ("delete", "post", "/admin/audit/auditevent/1/delete/"),
        ("change", "post", "/admin/audit/auditevent/1/change/"),
    ],
)
def test_admin_cannot_change_events(_case, method, path, superuser_client, write_events):
    # given
    write_events(1)
    events_before = list(AuditEvent.objects.values_list("sequence", "action", "hash"))
    # when
    response = getattr(superuser_client, method)(path, {"action": "auth.login", "post": "yes"})
    # then
    assert response.status_code == 403
    assert list(AuditEvent.objects.values_list("sequence", "action", "hash")) == events_before
