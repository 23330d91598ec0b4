"""A recovery rehearsal into a scratch HSM (a second emulator started --not-activated): the
holders' restore blob with 2 of 3 shares recovers the keys — a signature made before the drill
verifies there — and with 1 share the drill fails, recorded with the HSM's reason."""

from __future__ import annotations

import base64
import io
import json

from django.core.management import call_command

from audit.actions import Action
from audit.context import AuditContext
from audit.models import AuditEvent
from custody.rehearsal import rehearse_recovery, scratch_transfer_key
from custody.selectors import register_of, rehearsals_of
from tests.support.security_domain import restore_blob


def test_a_rehearsal_recovers_with_two_shares_and_fails_with_one(
    source, scratch, key_holders, admin_user
):
    # given: the holders wrap their shares to the scratch HSM's transfer key
    value, proof = source
    transfer_key = scratch_transfer_key(scratch_url=scratch.url)
    one_share = restore_blob(value, transfer_key, key_holders[:1], rekey=False)
    two_shares = restore_blob(value, transfer_key, [key_holders[0], key_holders[2]])
    ctx = AuditContext(actor=admin_user)
    seconds = iter(range(0, 100, 3))  # the drill's clock: each reading 3 s after the last
    common = {"scratch_url": scratch.url, "file_value": value, "proof": proof}
    # when
    failed = rehearse_recovery(
        restore_blob=one_share,
        shares_used=1,
        recorded_by=admin_user,
        ctx=ctx,
        clock=seconds.__next__,
        **common,
    )
    recovered = rehearse_recovery(
        restore_blob=two_shares,
        shares_used=2,
        recorded_by=admin_user,
        ctx=ctx,
        clock=seconds.__next__,
        **common,
    )
    # then
    assert (failed.outcome, failed.shares_used, failed.seconds_taken) == ("failed", 1, 3.0)
    assert failed.detail.startswith("The scratch HSM refused the recovery: ")
    assert "fewer shares than its quorum" in failed.detail
    assert (recovered.outcome, recovered.shares_used, recovered.seconds_taken) == (
        "succeeded",
        2,
        3.0,
    )
    assert recovered.detail == (
        f"Recovered; key pay-proof ({proof.version}) verified the signature made before the drill."
    )
    assert list(rehearsals_of(register_of())) == [recovered, failed]
    events = AuditEvent.objects.filter(action=Action.CUSTODY_REHEARSAL_RECORDED)
    assert sorted(e.after["outcome"] for e in events) == ["failed", "succeeded"]


def test_the_command_records_a_drill_with_one_share_as_failed(
    source, scratch, key_holders, custodian, tmp_path
):
    # given
    value, proof = source
    key = json.loads(_call("--scratch-url", scratch.url, "--transfer-key"))
    (tmp_path / "sd.json").write_text(value)
    (tmp_path / "blob.json").write_text(restore_blob(value, key, key_holders[:1], rekey=False))
    # when
    output = _call(
        "--scratch-url",
        scratch.url,
        "--security-domain",
        str(tmp_path / "sd.json"),
        "--restore-blob",
        str(tmp_path / "blob.json"),
        "--shares",
        "1",
        "--proof-key",
        proof.name,
        "--proof-version",
        proof.version,
        "--digest",
        proof.digest.hex(),
        "--signature",
        base64.b64encode(proof.signature).decode(),
        "--recorded-by",
        custodian.username,
    )
    # then
    (rehearsal,) = rehearsals_of(register_of())
    assert (rehearsal.outcome, rehearsal.shares_used, rehearsal.recorded_by) == (
        "failed",
        1,
        custodian,
    )
    assert output == f"Failed: {rehearsal.detail}\n"
    assert "fewer shares than its quorum" in rehearsal.detail


def _call(*args) -> str:
    out = io.StringIO()
    call_command("rehearse_recovery", *args, stdout=out)
    return out.getvalue()
