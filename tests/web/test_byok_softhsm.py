"""BYOK end to end, SoftHSM2 playing the on-premises HSM: the BYOK page walked in Chromium to
a KEK (dual approval, real worker, emulator), its PEM downloaded, the token's private key
wrapped inside the token by tools/byok_softhsm.py, the .byok file uploaded as key.import (dual
approval), and the imported key signing through the SDK what the token's public key verifies."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import expect

from approvals.models import ChangeRequest
from hsm_emulator.client.testing import make_clients
from keys.models import ManagedKey
from tests.approvals.conftest import approve, wait_for_state
from tests.support.hsm import OUT_OF_BAND_OID

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
TOOL = [sys.executable, str(ROOT / "tools" / "byok_softhsm.py")]
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN, PIN, SO_PIN, LABEL = "onprem", "1234", "5678", "app-signing"
WORKER_TIMEOUT_MS = 60_000


@pytest.fixture
def token(tmp_path, monkeypatch):
    """A fresh SoftHSM2 token of its own (no skip: CI installs softhsm2, see .ci/run)."""
    assert Path(SOFTHSM_MODULE).exists(), "softhsm2 is missing: apt-get install -y softhsm2"
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--so-pin", SO_PIN,
         "--pin", PIN],
        check=True, capture_output=True,
    )  # fmt: skip
    return tmp_path


def tool(*args: str) -> str:
    command = [*TOOL, *args, "--token", TOKEN, "--pin", PIN, "--key-label", LABEL]
    return subprocess.run(
        command, check=True, capture_output=True, text=True, env=os.environ
    ).stdout


def approve_and_wait(page, custodians, worker) -> ChangeRequest:
    """The request the page shows, approved by two custodians; the page follows the worker."""
    expect(page.locator("#request-state")).to_have_text("Pending approval")
    change = ChangeRequest.objects.get(pk=page.url.rstrip("/").rsplit("/", 1)[1])
    change = wait_for_state(approve(change, *custodians), "succeeded", "failed")
    assert change.state == "succeeded", (change.error, worker.log_tail())
    expect(page.locator("#request-state")).to_have_text("Succeeded", timeout=WORKER_TIMEOUT_MS)
    return change


def test_byok_from_softhsm_to_a_key_that_signs_what_the_token_verifies(
    token, browsing, screenshot, requester, custodian, second_custodian, live_worker, hsm
):
    # given: the key to bring, generated on the token
    tool("generate", "--size", "3072")
    alice = browsing.sign_in(requester)
    alice.goto("/byok/")
    expect(alice.locator("#step-download + p")).to_contain_text("has no key-exchange key yet")
    screenshot(alice, "byok-start")

    # when 1: the prefilled KEK request, approved and executed
    alice.get_by_role("link", name="Request a key-exchange key for Payments").click()
    expect(alice.get_by_label("Key name")).to_have_value("pay-kek")
    expect(alice.get_by_label("Key size (bits)")).to_have_value("4096")
    expect(alice.get_by_label("import", exact=True)).to_be_checked()
    expect(alice.get_by_label("Key-exchange key (BYOK)")).to_be_checked()
    alice.get_by_label("Key size (bits)").select_option("3072")  # the other KEK size: faster
    alice.get_by_label("Justification").fill("KEK for the on-premises signing key.")
    alice.get_by_role("button", name="Preview").click()
    alice.get_by_role("button", name="Submit request").click()
    approve_and_wait(alice, [custodian, second_custodian], live_worker)
    assert ManagedKey.objects.get(name="pay-kek").is_kek is True

    # when 2: its public key downloaded from the BYOK page, the key wrapped to it in the token
    alice.goto("/byok/")
    expect(alice.locator("#team-keks")).to_contain_text("pay-kek")
    screenshot(alice, "byok-kek-ready")
    with alice.expect_download() as download:
        alice.locator("#team-keks").get_by_role("link", name="PEM").click()
    kek_pem = token / "pay-kek.pem"
    download.value.save_as(kek_pem)
    byok_file = token / "app-signing.byok"
    tool("wrap", "--kek", str(kek_pem), "--out", str(byok_file))

    # when 3: the transfer file uploaded as key.import, approved and executed
    alice.get_by_role("link", name="Request a BYOK import for Payments").click()
    alice.get_by_label("Key name").fill("pay-onprem-signing")
    expect(alice.get_by_label("sign", exact=True)).to_be_checked()
    alice.get_by_label("BYOK transfer file (.byok)").set_input_files(byok_file)
    alice.get_by_label("Justification").fill("Bring the on-premises signing key.")
    alice.get_by_role("button", name="Preview").click()
    alice.get_by_role("button", name="Submit request").click()
    imported = approve_and_wait(alice, [custodian, second_custodian], live_worker)
    alice.goto("/keys/pay-onprem-signing/")
    expect(alice.get_by_role("heading", name="Public key")).to_be_visible()
    screenshot(alice, "byok-imported-key")

    # then: the HSM signs with the very key of the token; the token's public key verifies it
    hsm_sdk = make_clients(hsm.process.url, hsm.process.ca_path, OUT_OF_BAND_OID)
    digest = hashlib.sha256(b"settlement batch 42").digest()
    signature = hsm_sdk.crypto(imported.result["kid"]).sign("RS256", digest).signature
    # (PKCS#11 only in the tool's own process: SoftHSM leaves OpenSSL errors behind that break
    # this process's next TLS handshake)
    verified = tool(
        "verify",
        "--data",
        "settlement batch 42",
        "--signature",
        base64.b64encode(signature).decode(),
    )
    assert verified == "valid\n"
    modulus = serialization.load_pem_public_key(tool("public").encode()).public_numbers().n
    wrapped = json.loads(byok_file.read_text())
    assert (
        wrapped["header"]["kid"] == ChangeRequest.objects.get(operation="key.create").result["kid"]
    )
    jwk = alice.request.get("/api/v1/keys/pay-onprem-signing/public-key/?format=jwk").json()
    n = base64.urlsafe_b64decode(jwk["n"] + "=" * (-len(jwk["n"]) % 4))
    assert int.from_bytes(n, "big") == modulus
    assert browsing.csp_violations == []
