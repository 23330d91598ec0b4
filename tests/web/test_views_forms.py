"""Request forms: the operation's own validation (the API's) lands on the right field, nested
`params.<field>.<sub>` errors included; shaping (checkboxes, tags, dates, BYOK upload) and
pre-filling from a key's page."""

from __future__ import annotations

import base64
import json
import os

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from approvals.models import ChangeRequest
from approvals.request_forms import KeyCreateForm
from tests.web.conftest import EC_KEY_FORM, csrf_post


def preview(client, operation, data, **extra):
    return csrf_post(client, f"/requests/new/{operation}/", data, **extra)


def field_errors(response) -> dict[str, list[str]]:
    return {name: list(errors) for name, errors in response.context["form"].errors.items()}


ROTATION = {"rotation_trigger": "time_after_create", "rotation_expiry_time": "P1Y"}


@pytest.mark.parametrize(
    ("_case", "data", "expected"),
    [
        (
            "rotation period too short (params.rotation_policy.lifetime_actions.0.…)",
            {**EC_KEY_FORM, **ROTATION, "rotation_period": "P1D"},
            {"rotation_period": ["Must be at least 7 days."]},
        ),
        (
            "expiry not a duration (params.rotation_policy.expiry_time)",
            {**EC_KEY_FORM, **ROTATION, "rotation_period": "P90D", "rotation_expiry_time": "1y"},
            {"rotation_expiry_time": ["Must be an ISO-8601 duration such as P90D, P3M or P1Y."]},
        ),
        (
            "period without a trigger (params.rotation_policy.lifetime_actions.0)",
            {**EC_KEY_FORM, "rotation_period": "P90D", "rotation_expiry_time": "P1Y"},
            {
                "rotation_trigger": [
                    "Give exactly one trigger: time_after_create or time_before_expiry."
                ]
            },
        ),
        (
            "notify not shorter than expiry (params.rotation_policy.lifetime_actions.1.…)",
            {**EC_KEY_FORM, **ROTATION, "rotation_period": "P90D", "rotation_notify": "P2Y"},
            {"rotation_notify": ["Must be shorter than expiry_time."]},
        ),
        (
            "release policy authority (params.release_policy.anyOf.0.authority)",
            {
                **EC_KEY_FORM,
                "exportable": "on",
                "release_policy": json.dumps(
                    {
                        "version": "1.0.0",
                        "anyOf": [
                            {"authority": "http://attest", "allOf": [{"claim": "c", "equals": 1}]}
                        ],
                    }
                ),
            },
            {
                "release_policy": [
                    "anyOf.0.authority: Must be the attestation authority's https URL."
                ]
            },
        ),
        (
            "release policy on a non-exportable key",
            {**EC_KEY_FORM, "release_policy": '{"anyOf": []}'},
            {"release_policy": ["Only exportable keys have a release policy."]},
        ),
        (
            "every problem at once, parse errors included",
            {
                **EC_KEY_FORM,
                "name": "idn-x",
                "kty": "oct-HSM",
                "curve": "",
                "key_ops": ["sign"],
                "release_policy": "{not json",
                "tags": "owner",
            },
            {
                "name": ["Team payments may only use keys named pay-*."],
                "size": ["This field is required."],
                "key_ops": [
                    "sign not allowed for oct-HSM; allowed: encrypt, decrypt, wrapKey, unwrapKey."
                ],
                "release_policy": ["Enter a valid JSON."],
                "tags": ["Line 1: write each tag as name=value."],
            },
        ),
        (
            "expiry in the past",
            {**EC_KEY_FORM, "expires_on": "2001-01-01T10:00"},
            {"expires_on": ["Must be in the future."]},
        ),
    ],
)
def test_key_create_errors_land_on_their_fields(
    _case, data, expected, client_for, requester, payments_team
):
    # given
    client = client_for(requester)

    # when
    response = preview(client, "key.create", data)

    # then
    assert response.status_code == 400
    assert field_errors(response) == expected
    assert ChangeRequest.objects.exists() is False


def test_set_rotation_policy_maps_top_level_policy_errors(client_for, requester, inventory):
    # given
    client = client_for(requester)
    data = {
        "team": "payments",
        "name": "pay-live",
        "rotation_trigger": "time_before_expiry",
        "rotation_period": "P30D",
        "justification": "Rotate before expiry.",
    }

    # when
    response = preview(client, "key.set_rotation_policy", data)

    # then
    assert response.status_code == 400
    assert field_errors(response) == {
        "rotation_period": ["Needs expiry_time: new versions must expire."]
    }


def test_field_error_is_linked_to_its_input(client_for, requester, payments_team):
    # given
    client = client_for(requester)

    # when
    response = preview(client, "key.create", {**EC_KEY_FORM, "name": "bad name!"})

    # then
    html = response.content.decode()
    assert 'aria-invalid="true" aria-describedby="id_name_helptext id_name_error"' in html
    assert '<ul class="errorlist" id="id_name_error">' in html
    assert '<a href="#id_name">Key name: Key names are 1-127 letters' in html


def test_unknown_error_keys_become_form_errors(requester, payments_team):
    # given
    form = KeyCreateForm(data={"team": "payments"}, teams=[payments_team])
    form.is_valid()

    # when
    form.add_service_errors({"params.bogus": ["Unknown field."], "operation": ["Unknown."]})

    # then
    assert form.non_field_errors() == ["Unknown field.", "Unknown."]


def test_shaping_dates_tags_and_checkboxes_into_params(client_for, requester, payments_team):
    # given
    client = client_for(requester)
    data = {
        **EC_KEY_FORM,
        "expires_on": "2031-05-01T12:30",
        "tags": "owner = checkout\n\ncost-centre=42",
        **ROTATION,
        "rotation_period": "P90D",
    }

    # when
    response = preview(client, "key.create", data)

    # then
    assert response.status_code == 200
    assert response.context["draft"].params == {
        "name": "pay-web",
        "kty": "EC-HSM",
        "curve": "P-256",
        "key_ops": ["sign", "verify"],
        "exportable": False,
        "is_kek": False,
        "expires_on": "2031-05-01T12:30:00+00:00",
        "tags": {"cost-centre": "42", "owner": "checkout"},
        "rotation_policy": {
            "lifetime_actions": [{"action": "Rotate", "time_after_create": "P90D"}],
            "expiry_time": "P1Y",
        },
    }


def test_disable_link_prefills_and_previews_a_key_update(client_for, requester, inventory):
    # given
    client = client_for(requester)
    form_page = client.get("/requests/new/key.update/?team=payments&name=pay-live&enabled=false")

    # when
    response = preview(
        client,
        "key.update",
        {"team": "payments", "name": "pay-live", "enabled": "false", "justification": "Retired."},
    )

    # then
    assert form_page.context["form"].initial == {
        "team": "payments",
        "name": "pay-live",
        "enabled": "false",  # the link's value over the current one
        "key_ops": ["sign", "verify"],  # the current values (tests/web/test_views_changes.py)
    }
    assert response.context["draft"].params == {"name": "pay-live", "enabled": False}


def test_edit_from_the_preview_refills_the_form(client_for, requester, payments_team):
    # given
    client = client_for(requester)
    page = preview(client, "key.create", EC_KEY_FORM).content.decode()
    token = page.split('name="draft" value="')[1].split('"')[0]

    # when
    response = client.get(f"/requests/new/key.create/?draft={token}")

    # then
    initial = response.context["form"].initial
    assert (initial["name"], initial["curve"], initial["key_ops"]) == (
        "pay-web",
        "P-256",
        ["sign", "verify"],
    )


def test_role_assignment_errors_and_preview(client_for, requester, inventory):
    # given
    client = client_for(requester)
    data = {
        "team": "payments",
        "role": "Managed HSM Crypto User",
        "principal_type": "ServicePrincipal",
        "scope": "/keys/pay-rsa",
        "justification": "Checkout service signs with it.",
    }

    # when
    bad = preview(client, "role.assign", {**data, "principal_id": "checkout-app"})
    good = preview(
        client, "role.assign", {**data, "principal_id": "0A0A0A0A-0000-4000-8000-00000000beef"}
    )

    # then
    assert field_errors(bad) == {"principal_id": ["Must be an object id (GUID)."]}
    assert good.context["draft"].params["principal_id"] == "0a0a0a0a-0000-4000-8000-00000000beef"
    # the gateway's own method and keyword arguments (issue 10: the preview is the call)
    assert "create_role_assignment(scope=&#x27;/keys/pay-rsa&#x27;" in good.content.decode()


def byok_file(content: bytes, name="key.byok") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def byok_document(kek_version: str = "0123456789abcdef") -> bytes:
    header = {
        "kid": f"{settings.HSM_URL}/keys/pay-kek/{kek_version}",
        "alg": "dir",
        "enc": "CKM_RSA_AES_KEY_WRAP",
    }
    ciphertext = base64.urlsafe_b64encode(os.urandom(296)).decode().rstrip("=")
    document = {"schema_version": "1.0.0", "header": header, "ciphertext": ciphertext}
    return json.dumps({**document, "generator": "test"}).encode()


IMPORT_FORM = {
    "team": "payments",
    "name": "pay-imported",
    "kty": "RSA-HSM",
    "key_ops": ["sign", "verify"],
    "justification": "Key generated in the on-premises HSM.",
}


def test_byok_upload_is_read_into_params_and_previewed(client_for, requester, inventory):
    # given
    client = client_for(requester)

    # when
    response = preview(client, "key.import", {**IMPORT_FORM, "byok": byok_file(byok_document())})

    # then
    params = response.context["draft"].params
    assert response.status_code == 200
    assert params["byok"]["kek_kid"] == f"{settings.HSM_URL}/keys/pay-kek/0123456789abcdef"
    assert "import_byok_key(&#x27;pay-imported&#x27;" in response.content.decode()


@pytest.mark.parametrize(
    ("_case", "content", "message"),
    [
        (
            "larger than 64 KiB",
            b"{" + b" " * (64 * 1024) + b"}",
            "The file is 64 KiB; a BYOK file is at most 64 KiB. "
            "Choose the .byok file your HSM tool wrote.",
        ),
        ("not text", b"\xff\xfe\x00binary", "A BYOK file is JSON text; this file is not."),
        (
            "not JSON (the service's check)",
            b"hello",
            "Must be the JSON transfer file made by your HSM vendor tool.",
        ),
    ],
)
def test_bad_byok_file_is_refused_on_its_field(
    _case, content, message, client_for, requester, inventory
):
    # given
    client = client_for(requester)

    # when
    response = preview(client, "key.import", {**IMPORT_FORM, "byok": byok_file(content)})

    # then
    assert response.status_code == 400
    assert field_errors(response) == {"byok": [message]}
    assert ChangeRequest.objects.exists() is False


def test_byok_file_errors_name_the_part_of_the_file(client_for, requester, inventory):
    # given
    client = client_for(requester)
    document = json.loads(byok_document())
    document["header"]["kid"] = "https://another-hsm.example/keys/pay-kek/01"

    # when
    response = preview(
        client, "key.import", {**IMPORT_FORM, "byok": byok_file(json.dumps(document).encode())}
    )

    # then
    assert field_errors(response) == {"byok": ["header.kid: The file was wrapped for another HSM."]}


def test_web_form_shapes_the_window_and_puts_errors_on_its_inputs(client_for, requester, inventory):
    client = client_for(requester)
    data = {
        "team": "payments",
        "name": "pay-live",
        "cadence": "P90D",
        "mode": "standing",
        "window_weekdays": ["5"],
        "window_start_hour_utc": "22",
        "justification": "Rotate in the Saturday window.",
    }
    # when: the window's length is missing
    response = preview(client, "key.set_rotation_schedule", data)
    # then
    assert response.status_code == 400
    assert dict(response.context["form"].errors) == {"window_hours": ["This field is required."]}
    # and with it, the preview shows what will happen
    response = preview(client, "key.set_rotation_schedule", {**data, "window_hours": "4"})
    assert response.status_code == 200, response.context["form"].errors
    assert (
        "No HSM call now. Keywarden will rotate_key(&#x27;pay-live&#x27;) every P90D (Sat from "
        "22:00 UTC for 4 h), with this approval standing for every run."
    ) in response.content.decode()
