"""Release-policy lint at submission: unknown attestation authorities and malformed grammar are
errors at their JSON path (nothing is stored); a policy weaker than the org's baseline is
submitted, with warnings on the preview and on the approval page."""

from __future__ import annotations

import json

import pytest

from approvals.models import ChangeRequest
from audit.models import AuditEvent
from tests.approvals.conftest import submit
from tests.posture.conftest import ATTESTATION, STRONG_POLICY
from tests.web.conftest import EC_KEY_FORM, csrf_post, draft_token

pytestmark = pytest.mark.django_db
KEY = {"name": "pay-release", "kty": "RSA-HSM", "size": 2048, "key_ops": ["sign"]}
TYPE_ONLY = {
    "version": "1.0.0",
    "anyOf": [
        {
            "authority": ATTESTATION,
            "allOf": [{"claim": "x-ms-attestation-type", "equals": "sevsnpvm"}],
        }
    ],
}
WEAK_WARNINGS = [
    "Release policy anyOf.0: pins no x-ms-compliance-status claim (weaker than the "
    "organisation's baseline).",
    "Release policy anyOf.0: pins no x-ms-sevsnpvm-launchmeasurement or x-ms-sgx-mrenclave or "
    "x-ms-tdx-mrtd or x-ms-sevsnpvm-hostdata claim (weaker than the organisation's baseline).",
]


@pytest.fixture(autouse=True)
def _authorities(settings):
    settings.RELEASE_POLICY_AUTHORITIES = [ATTESTATION]


def submitted(api_client_for, requester, release_policy):
    return api_client_for(requester).post(
        "/api/v1/requests/",
        {
            "operation": "key.create",
            "team": "payments",
            "justification": "confidential workload",
            "params": {**KEY, "exportable": True, "release_policy": release_policy},
        },
        format="json",
    )


@pytest.mark.parametrize(
    ("_case", "release_policy", "errors"),
    [
        (
            "unknown authority",
            {"anyOf": [{**STRONG_POLICY["anyOf"][0], "authority": "https://rogue.example/"}]},
            {
                "params.release_policy.anyOf.0.authority": [
                    "https://rogue.example/ is not an approved attestation authority. "
                    "Approved: https://attest.emulator.test."
                ]
            },
        ),
        (
            "a claim without equals",
            {"anyOf": [{"authority": ATTESTATION, "allOf": [{"claim": "x-ms-attestation-type"}]}]},
            {"params.release_policy.anyOf.0.allOf.0": ["Each claim needs claim and equals."]},
        ),
        (
            "no claim list",
            {"allOf": [{"authority": ATTESTATION}]},
            {
                "params.release_policy.allOf.0": [
                    "Needs exactly one non-empty allOf or anyOf list of claims."
                ]
            },
        ),
    ],
)
def test_a_bad_release_policy_is_refused_at_its_json_path(
    requester, api_client_for, _case, release_policy, errors
):
    events = AuditEvent.objects.count()

    response = submitted(api_client_for, requester, release_policy)

    assert response.status_code == 400
    assert response.json()["errors"] == errors
    assert (ChangeRequest.objects.count(), AuditEvent.objects.count()) == (0, events)


def test_no_approved_authority_says_which_setting_to_set(requester, api_client_for, settings):
    settings.RELEASE_POLICY_AUTHORITIES = []

    response = submitted(api_client_for, requester, STRONG_POLICY)

    assert response.json()["errors"] == {
        "params.release_policy.anyOf.0.authority": [
            f"{ATTESTATION} is not an approved attestation authority. Approved: none is "
            "(set RELEASE_POLICY_AUTHORITIES)."
        ]
    }


def test_a_policy_meeting_the_baseline_has_no_warnings(requester, client_for):
    change = submit(requester, params={**KEY, "exportable": True, "release_policy": STRONG_POLICY})

    page = client_for(requester).get(f"/requests/{change.pk}/")

    assert page.status_code == 200
    assert 'id="request-warnings"' not in page.content.decode()


def test_a_weak_policy_is_submitted_with_warnings_on_the_preview_and_approval_pages(
    requester, custodian, client_for
):
    form = {**EC_KEY_FORM, "exportable": "on", "release_policy": json.dumps(TYPE_ONLY)}

    preview = csrf_post(client_for(requester), "/requests/new/key.create/", form)
    change = submit(requester, params={**KEY, "exportable": True, "release_policy": TYPE_ONLY})
    approval_page = client_for(custodian).get(f"/requests/{change.pk}/")

    assert preview.status_code == 200
    assert draft_token(preview)  # a preview, ready to submit: warnings do not block
    assert preview.context["draft"].warnings == WEAK_WARNINGS
    assert change.state == "pending"
    for warning in WEAK_WARNINGS:
        assert warning.replace("'", "&#x27;") in approval_page.content.decode()
