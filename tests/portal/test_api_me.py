import pytest

from accounts.roles import Role


@pytest.mark.parametrize(
    ("_case", "role", "expected_roles", "expected_teams"),
    [
        ("requester", Role.REQUESTER, ["requester"], ["payments"]),
        ("custodian", Role.CUSTODIAN, ["custodian"], []),
        ("admin", Role.ADMIN, ["admin"], []),
        ("auditor", Role.AUDITOR, ["auditor"], []),
        ("outsider", "outsider", [], []),
    ],
)
def test_me_returns_user_teams_and_roles(
    _case, role, expected_roles, expected_teams, user_for_role, api_client_for
):
    # given
    user = user_for_role(role)
    # when
    response = api_client_for(user).get("/api/v1/me/")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == user.username
    assert body["roles"] == expected_roles
    assert [team["slug"] for team in body["teams"]] == expected_teams


def test_me_lists_team_prefix_for_requester(requester, api_client_for):
    response = api_client_for(requester).get("/api/v1/me/")
    assert response.json()["teams"] == [
        {"slug": "payments", "name": "Payments", "key_prefix": "pay-"}
    ]


def test_me_refuses_anonymous_with_401(anonymous_client, db):
    response = anonymous_client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_me_refuses_invalid_token(anonymous_client, db):
    anonymous_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = anonymous_client.get("/api/v1/me/")
    assert response.status_code == 401


def test_me_accepts_browser_session(client, requester):
    client.force_login(requester)
    response = client.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["username"] == "alice"


def test_member_of_two_teams_sees_both(requester, identity_team, api_client_for):
    from accounts.services import set_user_access
    from audit.context import AuditContext

    set_user_access(
        user=requester,
        teams=[*requester.teams.all(), identity_team],
        roles=[],
        ctx=AuditContext.system("test"),
    )
    response = api_client_for(requester).get("/api/v1/me/")
    assert [team["slug"] for team in response.json()["teams"]] == ["identity", "payments"]
