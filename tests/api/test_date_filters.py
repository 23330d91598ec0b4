"""Date-time filters take any offset ISO-8601 allows and answer a field error, never a server
error, for an instant outside the calendar (schemathesis found both)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/v1/keys/", "due_before"),
        ("/api/v1/keys/", "due_after"),
        ("/api/v1/keys/", "expires_before"),
        ("/api/v1/keys/", "expires_after"),
        ("/api/v1/audit/events/", "since"),
        ("/api/v1/audit/events/", "until"),
    ],
)
def test_large_offsets_are_read_as_utc_and_year_zero_is_a_field_error(
    path, parameter, api_client_for, admin_user
):
    client = api_client_for(admin_user)
    # an offset beyond what PostgreSQL stores (±15:59) is still one instant
    assert client.get(path, {parameter: "0242-05-18T16:08:38-16:42"}).status_code == 200
    # before year 1 in UTC
    response = client.get(path, {parameter: "0001-01-01T00:00:00+05:00"})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The input is not valid.",
        "errors": {parameter: ["Enter a date-time between years 1 and 9999 in UTC."]},
    }
