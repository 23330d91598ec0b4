"""Who sees the custody register (page and API) and who confirms possession: admins,
custodians and auditors read; a holder reads and confirms for themself only; others get 403."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from django.test import Client

from accounts.roles import Role
from audit.actions import Action
from audit.models import AuditEvent
from custody.models import PossessionConfirmation
from tests.custody.conftest import fill_register
from tests.factories import UserFactory


def browser_for(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf_post(client, path):
    client.get("/custody/")
    return client.post(path, {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})


@pytest.fixture
def holder_user(db):
    """A portal user with no role who holds a share."""
    return UserFactory(username="ines")


@pytest.fixture
def register(key_holders, holder_user):
    return fill_register(key_holders, users=[holder_user])


@pytest.mark.parametrize(
    ("_case", "role", "status"),
    [
        ("admin reads", Role.ADMIN, 200),
        ("custodian reads", Role.CUSTODIAN, 200),
        ("auditor reads", Role.AUDITOR, 200),
        ("requester refused", Role.REQUESTER, 403),
        ("outsider refused", "outsider", 403),
    ],
)
def test_register_page_and_api_by_role(
    _case, role, status, user_for_role, api_client_for, register
):
    user = user_for_role(role)
    page = browser_for(user).get("/custody/")
    api = api_client_for(user).get("/api/v1/custody/")
    assert (page.status_code, api.status_code) == (status, status)


def test_a_holder_reads_the_register_and_sees_only_their_own_confirm_button(register, holder_user):
    response = browser_for(holder_user).get("/custody/")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count("I still hold my token") == 1
    assert f"/custody/holders/{register[0].pk}/confirm/" in body


def test_the_api_lists_holders_with_computed_thumbprints(register, auditor, api_client_for):
    body = api_client_for(auditor).get("/api/v1/custody/").json()
    assert [h["thumbprint"] for h in body["holders"]] == [h.thumbprint for h in register]
    assert [h["site"] for h in body["holders"]] == ["Amsterdam", "Frankfurt", "Dublin"]
    assert body["quorum"] == 2
    assert [w["code"] for w in body["warnings"]] == ["possession"]


def test_the_holder_confirms_possession_with_csrf_and_it_is_audited(register, holder_user):
    # when
    response = csrf_post(browser_for(holder_user), f"/custody/holders/{register[0].pk}/confirm/")
    # then
    assert (response.status_code, response["Location"]) == (302, "/custody/")
    confirmation = PossessionConfirmation.objects.get()
    assert (confirmation.holder_id, confirmation.confirmed_by) == (register[0].pk, holder_user)
    event = AuditEvent.objects.get(action=Action.CUSTODY_POSSESSION_CONFIRMED)
    assert (event.actor_label, event.target_id) == ("ines", str(register[0].pk))


def test_a_confirmation_without_the_csrf_token_is_refused(register, holder_user):
    response = browser_for(holder_user).post(f"/custody/holders/{register[0].pk}/confirm/")
    assert response.status_code == 403
    assert PossessionConfirmation.objects.exists() is False


def test_nobody_confirms_for_another_holder(register, holder_user, admin_user, api_client_for):
    # given
    events_before = AuditEvent.objects.count()
    # when: the admin for ines, and ines for the holder with no portal account
    by_admin = api_client_for(admin_user).post(f"/api/v1/custody/holders/{register[0].pk}/confirm/")
    for_other = api_client_for(holder_user).post(
        f"/api/v1/custody/holders/{register[1].pk}/confirm/"
    )
    # then
    reason = "Only the holder themself confirms possession of their token."
    assert (by_admin.status_code, by_admin.json()) == (403, {"detail": reason})
    assert (for_other.status_code, for_other.json()) == (403, {"detail": reason})
    assert PossessionConfirmation.objects.exists() is False
    assert AuditEvent.objects.count() == events_before


def test_the_holder_confirms_through_the_api(register, holder_user, api_client_for):
    response = api_client_for(holder_user).post(
        f"/api/v1/custody/holders/{register[0].pk}/confirm/"
    )
    assert response.status_code == 201
    assert response.json()["holder"] == str(register[0].pk)
    assert PossessionConfirmation.objects.filter(holder=register[0]).count() == 1


def sign(key_holder, nonce: str) -> str:
    signed = key_holder.private_key.sign(nonce.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signed).decode()


def test_the_holder_signs_the_nonce_with_the_token_key(
    register, holder_user, key_holders, api_client_for
):
    # given
    client = api_client_for(holder_user)
    nonce = client.get(f"/api/v1/custody/holders/{register[0].pk}/challenge/").json()["nonce"]
    # when
    response = client.post(
        f"/api/v1/custody/holders/{register[0].pk}/confirm/",
        {"nonce": nonce, "signature": sign(key_holders[0], nonce)},
        format="json",
    )
    # then
    assert (response.status_code, response.json()["is_signed"]) == (201, True)
    event = AuditEvent.objects.get(action=Action.CUSTODY_POSSESSION_CONFIRMED)
    assert event.after["signed"] is True


def test_a_signature_by_another_key_is_refused_and_records_nothing(
    register, holder_user, key_holders, api_client_for
):
    client = api_client_for(holder_user)
    nonce = client.get(f"/api/v1/custody/holders/{register[0].pk}/challenge/").json()["nonce"]
    response = client.post(
        f"/api/v1/custody/holders/{register[0].pk}/confirm/",
        {"nonce": nonce, "signature": sign(key_holders[1], nonce)},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "signature": ["The signature does not verify with the holder's certificate."]
    }
    assert PossessionConfirmation.objects.exists() is False


def test_only_the_holder_gets_a_nonce(register, admin_user, api_client_for):
    response = api_client_for(admin_user).get(
        f"/api/v1/custody/holders/{register[0].pk}/challenge/"
    )
    assert response.status_code == 403
