"""The request forms of the custody operations: a PEM in a text area, the quorum as a number,
witnesses one per line, each shaped into the params the API takes and previewed."""

from __future__ import annotations

import html

from django.test import Client

from tests.approvals.conftest import submit
from tests.custody.conftest import fill_register, pem_of


def post_form(user, operation: str, data: dict):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(f"/requests/new/{operation}/")
    token = client.cookies["csrftoken"].value
    return client.post(f"/requests/new/{operation}/", {**data, "csrfmiddlewaretoken": token})


def test_the_add_holder_form_previews_the_computed_thumbprint(platform_requester, key_holders):
    response = post_form(
        platform_requester,
        "custody.add_holder",
        {
            "team": "hsm-platform",
            "person": "Ines Ortega",
            "token_type": "smart_card",
            "site": "Amsterdam",
            "certificate_pem": pem_of(key_holders[0]),
            "justification": "New holder for the Amsterdam site.",
        },
    )
    body = html.unescape(response.content.decode())
    assert response.status_code == 200
    assert "No HSM call: the custody register records holder Ines Ortega at Amsterdam" in body
    assert key_holders[0].thumbprint in body


def test_the_quorum_and_download_forms_shape_numbers_and_lines(
    platform_requester, key_holders, settings, tmp_path
):
    settings.CUSTODY_SECURITY_DOMAIN_DIR = str(tmp_path)
    fill_register(key_holders, quorum=None)
    quorum = post_form(
        platform_requester,
        "custody.set_quorum",
        {"team": "hsm-platform", "quorum": "2", "justification": "Two of three."},
    )
    assert "No HSM call: the custody register records a quorum of 2." in quorum.content.decode()
    refused = post_form(
        platform_requester,
        "hsm.security_domain.download",
        {"team": "hsm-platform", "witnesses": "Wendy\nVictor", "justification": "Activation."},
    )
    assert refused.status_code == 400
    assert "Set the quorum (custody.set_quorum) before the ceremony." in refused.content.decode()


def test_a_custody_request_shows_its_preview_to_custodians(
    platform_requester, custodian, key_holders
):
    fill_register(key_holders, quorum=None)
    change = submit(
        platform_requester, "custody.set_quorum", team="hsm-platform", params={"quorum": 2}
    )
    client = Client()
    client.force_login(custodian)
    body = html.unescape(client.get(f"/requests/{change.pk}/").content.decode())
    assert "Set security-domain quorum" in body
    assert "No HSM call: the custody register records a quorum of 2." in body
