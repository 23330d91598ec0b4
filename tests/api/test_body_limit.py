"""A request body over API_MAX_BODY_BYTES is a 413 and one that is not JSON a 415, in the
API's error shape, and nothing is written."""

from __future__ import annotations

import json

import pytest

from approvals.models import ChangeRequest
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_a_body_over_the_limit_is_a_413_and_writes_nothing(api_client_for, requester, settings):
    settings.API_MAX_BODY_BYTES = 4096
    events = AuditEvent.objects.count()
    body = json.dumps(
        {
            "operation": "key.create",
            "team": "payments",
            "justification": "x" * 5000,
            "params": {"name": "pay-big", "kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign"]},
        }
    )
    response = api_client_for(requester).post(
        "/api/v1/requests/", body, content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request body is larger than 4096 bytes (API_MAX_BODY_BYTES)."
    }
    assert (ChangeRequest.objects.count(), AuditEvent.objects.count()) == (0, events)


def test_a_body_under_the_limit_is_read(api_client_for, requester, settings):
    settings.API_MAX_BODY_BYTES = 4096
    response = api_client_for(requester).post(
        "/api/v1/requests/", {"operation": "key.nosuch"}, format="json"
    )
    assert response.status_code == 400


def test_a_body_that_is_not_json_is_a_415_and_writes_nothing(api_client_for, requester):
    events = AuditEvent.objects.count()
    response = api_client_for(requester).post(
        "/api/v1/requests/", "operation=key.rotate", content_type="text/plain"
    )
    assert response.status_code == 415
    assert response.json() == {"detail": 'Unsupported media type "text/plain" in request.'}
    assert (ChangeRequest.objects.count(), AuditEvent.objects.count()) == (0, events)
