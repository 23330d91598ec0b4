"""The download ceremony against a new HSM (an emulator started --not-activated): certificates
and quorum from the register, approved by two custodians who hold no share, executed by a real
worker through the official SecurityDomainClient. The file goes to the holders' directory;
Keywarden keeps its SHA-256 only."""

from __future__ import annotations

import hashlib
import json
import stat
import uuid

import pytest
from azure.core.exceptions import HttpResponseError

from approvals.models import State
from audit.actions import Action
from audit.models import AuditEvent
from custody.selectors import register_of
from hsm_emulator.client.testing import EmulatorProcess, make_clients
from tests.approvals.conftest import approve, submit, wait_for_state
from tests.custody.conftest import fill_register
from tests.support.hsm import HSM_ADMIN_OID
from tests.support.security_domain import combine, unwrap_share
from tests.support.worker import LiveWorker

QUIET = ["--rotation-tick", "3600"]


@pytest.fixture
def new_hsm(tmp_path):
    """An HSM that awaits its security domain."""
    with EmulatorProcess(tmp_path / "new-hsm", extra_args=["--not-activated", *QUIET]) as hsm:
        yield hsm


@pytest.fixture
def ceremony_worker(tmp_path, settings, new_hsm):
    """A worker on a queue of its own whose HSM is `new_hsm`, writing the security domain
    file to a directory of the holders'."""
    queue = f"ceremony-{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "holders"
    folder.mkdir()
    settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_RECOVERY_QUEUE = queue, f"{queue}-rec"
    settings.HSM_URL, settings.HSM_CA_FILE = new_hsm.url, new_hsm.ca_path
    settings.CUSTODY_SECURITY_DOMAIN_DIR = str(folder)
    env = {
        "CELERY_QUEUE": queue,
        "HSM_URL": new_hsm.url,
        "HSM_CA_FILE": str(new_hsm.ca_path),
        "CUSTODY_SECURITY_DOMAIN_DIR": str(folder),
        "HSM_CEREMONY_PRINCIPAL_ID": HSM_ADMIN_OID,
    }
    (tmp_path / "worker").mkdir()
    worker = LiveWorker(
        log_dir=tmp_path / "worker", concurrency=1, env=env, queues=(queue, f"{queue}-rec")
    )
    worker.start()
    yield folder
    worker.wait_idle()
    worker.stop()


def admin_can_list_roles(hsm) -> bool:
    admin = make_clients(hsm.url, hsm.ca_path, HSM_ADMIN_OID).access_control
    try:
        list(admin.list_role_assignments("/"))
    except HttpResponseError:
        return False
    return True


@pytest.mark.django_db(transaction=True)
def test_the_download_ceremony_activates_a_new_hsm(
    platform_requester, custodian, second_custodian, key_holders, new_hsm, ceremony_worker
):
    # given: three holders with a quorum of 2, and an HSM that refuses everything else
    fill_register(key_holders)
    assert admin_can_list_roles(new_hsm) is False
    change = submit(
        platform_requester,
        "hsm.security_domain.download",
        team="hsm-platform",
        params={"witnesses": ["Wendy Witness", "Victor Witness"]},
    )
    # when two custodians who hold no share approve
    approve(change, custodian, second_custodian)
    change = wait_for_state(change, State.SUCCEEDED, State.FAILED, timeout=90)
    # then the HSM is activated and the file is the holders', 2 of 3 shares to open it
    assert change.state == State.SUCCEEDED, change.error
    assert admin_can_list_roles(new_hsm) is True
    register = register_of()
    path = ceremony_worker / f"security-domain-{change.pk}.json"
    value = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert register.file_sha256 == hashlib.sha256(value.encode()).hexdigest()
    assert (register.file_name, register.activation_request_id) == (path.name, change.pk)
    assert register.witnesses == ["Wendy Witness", "Victor Witness"]
    assert register.activated_at is not None
    document = json.loads(value)
    assert document["SharedKeys"]["required"] == 2
    shares = {s["x5t_256"]: s["enc_key"] for s in document["SharedKeys"]["enc_shares"]}
    assert set(shares) == {holder.thumbprint for holder in key_holders}
    opened = [unwrap_share(h, shares[h.thumbprint]) for h in key_holders]
    assert combine(opened[:2]) == combine(opened[1:])  # any two give the same master key
    # and Keywarden kept the hash, never the file
    assert change.result == {
        "file_sha256": register.file_sha256,
        "file_name": path.name,
        "quorum": 2,
    }
    activated = AuditEvent.objects.get(action=Action.CUSTODY_ACTIVATED)
    assert activated.after["file_sha256"] == register.file_sha256
    assert activated.after["holders"] == [h.thumbprint for h in key_holders]
    for event in AuditEvent.objects.all():
        assert "enc_shares" not in json.dumps([event.before, event.after])
