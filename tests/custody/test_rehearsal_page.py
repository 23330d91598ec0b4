"""The recovery rehearsal from the portal (`/custody/rehearsal/`): the scratch HSM's transfer
key to download, the holders' restore blob uploaded, the drill run by the real worker against
the scratch emulator, its progress polled and its outcome recorded; the blob kept only for the
job. Admins and custodians only."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from custody.forms import MAX_UPLOAD_BYTES
from custody.models import RehearsalRun
from custody.rehearsal import SignatureProof
from tests.support.security_domain import restore_blob
from tests.web.conftest import csrf_post

PAGE, LIVE = reverse("custody:rehearsal"), reverse("custody:rehearsal-live")
TRANSFER_KEY = reverse("custody:rehearsal-transfer-key")
REFUSED = "Only admins and custodians rehearse the recovery of the security domain."


@pytest.fixture
def client_for(db):
    """`client_for(user)` → a test client with that user's session (CSRF checks on)."""

    def make(user) -> Client:
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        return client

    return make


def form_data(value: str, blob: str, proof, shares: int) -> dict:
    return {
        "restore_blob": SimpleUploadedFile("blob.json", blob.encode()),
        "security_domain": SimpleUploadedFile("sd.json", value.encode()),
        "shares_used": str(shares),
        "proof_key": proof.name,
        "proof_version": proof.version,
        "algorithm": proof.algorithm,
        "digest": proof.digest.hex(),
        "signature": base64.b64encode(proof.signature).decode(),
    }


def wait_until_finished(client, timeout: float = 60) -> str:
    """Poll the live fragment as the page's script does, until it stops asking to."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fragment = client.get(LIVE).content.decode()
        if 'data-open="false"' in fragment:
            return fragment
        time.sleep(0.2)
    raise AssertionError("the rehearsal did not finish")


@pytest.mark.django_db(transaction=True)
def test_a_custodian_rehearses_from_the_portal_and_a_worker_records_the_recovery(
    source, scratch, key_holders, custodian, client_for, settings, live_worker
):
    # given: step 1, the holders wrap two shares to the downloaded transfer key
    value, proof = source
    settings.CUSTODY_SCRATCH_HSM_URL = scratch.url
    client = client_for(custodian)
    page = client.get(PAGE)
    assert page.status_code == 200 and scratch.url in page.content.decode()
    download = client.get(TRANSFER_KEY)
    assert download["Content-Disposition"] == 'attachment; filename="scratch-transfer-key.json"'
    blob = restore_blob(value, json.loads(download.content), [key_holders[0], key_holders[2]])
    # when: step 2
    response = csrf_post(client, PAGE, form_data(value, blob, proof, 2))
    fragment = wait_until_finished(client)
    # then
    assert (response.status_code, response["Location"]) == (302, PAGE), live_worker.log_tail()
    run = RehearsalRun.objects.select_related("rehearsal").get()
    detail = (
        f"Recovered; key pay-proof ({proof.version}) verified the signature made before the drill."
    )
    assert (run.status, run.rehearsal.outcome, run.rehearsal.detail) == (
        "done",
        "succeeded",
        detail,
    )
    assert (run.rehearsal.shares_used, run.rehearsal.recorded_by, run.error) == (2, custodian, "")
    assert (run.restore_blob, run.file_value) == ("", "")
    assert run.restore_blob_sha256 == hashlib.sha256(blob.encode()).hexdigest()
    assert run.rehearsal.file_sha256 == hashlib.sha256(value.encode()).hexdigest()
    assert detail in fragment and "Recovered" in fragment
    assert detail in client.get(reverse("custody:register")).content.decode()
    started = AuditEvent.objects.get(action="custody.rehearsal_started")
    assert (started.actor_id, started.after["restore_blob_sha256"]) == (
        custodian.pk,
        run.restore_blob_sha256,
    )
    recorded = AuditEvent.objects.get(action="custody.rehearsal_recorded")
    assert (recorded.actor_label, recorded.after["outcome"]) == ("worker", "succeeded")


@pytest.mark.django_db(transaction=True)
def test_one_share_is_a_failed_rehearsal_with_the_hsms_reason(
    source, scratch, key_holders, admin_user, client_for, settings, live_worker
):
    # given
    value, proof = source
    settings.CUSTODY_SCRATCH_HSM_URL = scratch.url
    client = client_for(admin_user)
    key = json.loads(client.get(TRANSFER_KEY).content)
    blob = restore_blob(value, key, key_holders[:1], rekey=False)
    # when
    csrf_post(client, PAGE, form_data(value, blob, proof, 1))
    fragment = wait_until_finished(client)
    # then
    run = RehearsalRun.objects.select_related("rehearsal").get()
    assert (run.status, run.rehearsal.outcome, run.restore_blob) == ("done", "failed", "")
    assert run.rehearsal.detail.startswith("The scratch HSM refused the recovery: ")
    assert "fewer shares than its quorum" in fragment


def test_a_second_rehearsal_while_one_runs_is_refused(
    custodian, client_for, settings, django_capture_on_commit_callbacks
):
    # given: a run the worker has not taken yet
    settings.CUSTODY_SCRATCH_HSM_URL = "https://scratch.example.test"
    client = client_for(custodian)
    proof = SignatureProof("pay-proof", "v1", "RS256", b"\x01" * 32, b"sig")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        first = csrf_post(client, PAGE, form_data("{}", "{}", proof, 2))
    # when
    second = csrf_post(client, PAGE, form_data("{}", "{}", proof, 2))
    # then
    assert first.status_code == 302
    assert [c.keywords for c in queued] == [
        {"kwargs": {"run_id": str(RehearsalRun.objects.get().pk)}}
    ]
    assert queued[0].args == ("custody.rehearse_recovery",)
    assert second.status_code == 409
    assert "A recovery rehearsal is running already" in second.content.decode()


def test_the_form_refuses_a_blob_over_the_limit_and_a_digest_that_is_no_hex(
    custodian, client_for, settings
):
    # given
    settings.CUSTODY_SCRATCH_HSM_URL = "https://scratch.example.test"
    proof = SignatureProof("pay-proof", "v1", "RS256", b"\x01", b"sig")
    data = form_data("{}", "x" * (MAX_UPLOAD_BYTES + 1), proof, 2)
    data["digest"] = "not hex"
    # when
    response = csrf_post(client_for(custodian), PAGE, data)
    # then
    text = response.content.decode()
    assert response.status_code == 400
    assert "The file is 256 KiB; a restore blob is at most 256 KiB." in text
    assert "The digest is hex and the signature base64." in text
    assert not RehearsalRun.objects.exists()


def test_without_a_scratch_hsm_the_page_says_which_setting_names_it(
    custodian, client_for, settings
):
    settings.CUSTODY_SCRATCH_HSM_URL = ""
    client = client_for(custodian)
    assert "CUSTODY_SCRATCH_HSM_URL" in client.get(PAGE).content.decode()
    refused = client.get(TRANSFER_KEY)
    assert refused.status_code == 409
    assert "No scratch HSM is set: CUSTODY_SCRATCH_HSM_URL names it." in refused.content.decode()


@pytest.mark.parametrize("url", [PAGE, LIVE, TRANSFER_KEY])
@pytest.mark.parametrize("who", ["requester", "auditor"])
def test_requesters_and_auditors_get_403_with_the_rule(url, who, requester, auditor, client_for):
    user = {"requester": requester, "auditor": auditor}[who]
    response = client_for(user).get(url)
    assert response.status_code == 403
    assert REFUSED in re.sub(r"\s+", " ", response.content.decode())
