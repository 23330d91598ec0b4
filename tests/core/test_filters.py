"""Search and filter parameters with a control character are refused (400 on the parameter)
by every list, API and page alike (core.filters), never matched as text or sent to PostgreSQL
(which cannot hold a NUL)."""

import pytest

from audit.models import AuditEvent

SUFFIXES = [("newline", "%0A"), ("NUL", "%00")]
QUERIES = [
    ("keys: search", "/api/v1/keys/?search=pay-live", "search"),
    ("keys: team", "/api/v1/keys/?team=payments", "team"),
    ("keys: rotation class", "/api/v1/keys/?rotation_class=standard", "rotation_class"),
    ("requests: key", "/api/v1/requests/?key=pay-live", "key"),
    ("requests: team", "/api/v1/requests/?team=payments", "team"),
    ("audit: actor", "/api/v1/audit/events/?actor=alice", "actor"),
    ("audit: target name", "/api/v1/audit/events/?target_name=pay-live", "target_name"),
    ("audit: action prefix", "/api/v1/audit/events/?action_prefix=request.", "action_prefix"),
]
CASES = [
    (f"{label}, {suffix_name}", url + suffix, parameter)
    for label, url, parameter in QUERIES
    for suffix_name, suffix in SUFFIXES
]


@pytest.mark.parametrize(("_case", "url", "parameter"), CASES, ids=[case[0] for case in CASES])
def test_a_control_character_in_a_query_parameter_is_refused(
    _case, url, parameter, auditor, api_client_for
):
    # given
    events_before = AuditEvent.objects.count()
    # when
    response = api_client_for(auditor).get(url)
    # then
    assert response.status_code == 400, response.content[:300]
    assert list(response.json()["errors"]) == [parameter]
    assert AuditEvent.objects.count() == events_before


@pytest.mark.parametrize(
    ("_case", "url"),
    [
        ("inventory page", "/keys/?team=payments%00"),
        ("requests page", "/requests/?key=pay-live%0A"),
        ("audit page", "/audit/?actor=alice%00"),
    ],
)
def test_a_page_with_a_control_character_in_a_filter_answers_without_error(
    _case, url, auditor, client
):
    # given
    client.force_login(auditor)
    # when
    response = client.get(url)
    # then
    assert response.status_code == 200
    assert b"control characters" in response.content
