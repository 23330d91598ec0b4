"""Only a UUID names a request: anything else in the URL is 404 on every endpoint, never a 500."""

import pytest

from audit.models import AuditEvent

NOT_UUIDS = ["a" * 36, "-" * 36, "0" * 8 + "-0000-0000-0000-00000000000g", "0" * 36]
ENDPOINTS = [
    ("get", ""),
    ("post", "approve/"),
    ("post", "reject/"),
    ("post", "cancel/"),
    ("post", "retry/"),
    ("get", "backup/"),
]


@pytest.mark.parametrize(("method", "suffix"), ENDPOINTS)
@pytest.mark.parametrize("request_id", NOT_UUIDS)
def test_a_request_id_that_is_not_a_uuid_is_not_found(
    method, suffix, request_id, custodian, api_client_for, pending_request
):
    # given
    client = api_client_for(custodian)
    events_before = AuditEvent.objects.count()
    # when
    response = getattr(client, method)(
        f"/api/v1/requests/{request_id}/{suffix}", {"comment": "x"}, format="json"
    )
    # then
    assert response.status_code == 404
    assert AuditEvent.objects.count() == events_before
