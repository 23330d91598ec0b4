"""The command line: start-up files, flags, clean shutdown, background rotation."""

from __future__ import annotations

import ipaddress
import json
import stat
import time
import uuid
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.keyvault.keys import KeyRotationLifetimeAction, KeyRotationPolicy
from cryptography import x509
from emulator_helpers import ADMIN, CRYPTO_USER_ROLE, ROLE_ID_PREFIX, error_code

from hsm_emulator.client.attestation import LocalAttestationAuthority
from hsm_emulator.client.testing import EmulatorProcess, make_clients

OWNER = str(uuid.uuid4())


@pytest.fixture(scope="module")
def flagged(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cli-hsm")
    args = ["--server-name", "hsm.test", "--rotation-tick", "0.5", "--retention-days", "30"]
    with EmulatorProcess(directory, initial_admins=[OWNER], extra_args=args) as process:
        yield process


def test_ready_file_describes_the_listening_process(flagged):
    ready = json.loads((flagged.data_dir / "ready.json").read_text())

    assert ready == {
        "url": f"https://127.0.0.1:{flagged.port}",
        "port": flagged.port,
        "pid": flagged.pid,
        "ca": str(flagged.data_dir / "ca.pem"),
    }
    assert flagged.port > 0
    assert f"hsm_emulator listening on https://127.0.0.1:{flagged.port}\n" in (
        flagged.log_path.read_text()
    )


def test_certificates_cover_loopback_and_extra_server_names(flagged):
    ca = x509.load_pem_x509_certificate((flagged.data_dir / "ca.pem").read_bytes())
    leaf = x509.load_pem_x509_certificate((flagged.data_dir / "server.pem").read_bytes())

    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert names.get_values_for_type(x509.DNSName) == ["localhost", "hsm.test"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert leaf.issuer == ca.subject


def test_secrets_in_the_data_dir_are_owner_only(flagged):
    modes = {
        name: stat.S_IMODE((flagged.data_dir / name).stat().st_mode)
        for name in ("master.key", "ca.key", "server.key")
    }

    assert modes == {"master.key": 0o600, "ca.key": 0o600, "server.key": 0o600}


def test_initial_admin_flag_replaces_the_default_admin(flagged):
    owner = make_clients(flagged.url, flagged.ca_path, OWNER)
    default = make_clients(flagged.url, flagged.ca_path, ADMIN)

    assignments = list(owner.access_control.list_role_assignments("/"))
    with pytest.raises(HttpResponseError) as raised:
        list(default.access_control.list_role_assignments("/"))

    assert {a.properties.principal_id for a in assignments} == {OWNER}
    assert error_code(raised.value) == "AccessDenied"


def test_retention_days_flag_sets_recoverable_days(flagged):
    owner = make_clients(flagged.url, flagged.ca_path, OWNER)
    owner.access_control.create_role_assignment("/", ROLE_ID_PREFIX + CRYPTO_USER_ROLE, OWNER)

    key = owner.keys.create_ec_key("retention")

    assert (key.properties.recoverable_days, key.properties.recovery_level) == (
        30,
        "CustomizedRecoverable+Purgeable",
    )


def test_background_tick_rotates_keys_whose_policy_is_due(flagged):
    owner = make_clients(flagged.url, flagged.ca_path, OWNER)
    owner.access_control.create_role_assignment(
        "/keys/auto", ROLE_ID_PREFIX + CRYPTO_USER_ROLE, OWNER
    )
    original = owner.keys.create_ec_key("auto")
    owner.keys.update_key_rotation_policy(
        "auto",
        KeyRotationPolicy(
            expires_in="P30D",
            lifetime_actions=[KeyRotationLifetimeAction("Rotate", time_after_create="PT2S")],
        ),
    )

    latest = _wait_for_new_version(owner, "auto", original.properties.version)

    assert latest.properties.version != original.properties.version
    assert latest.properties.expires_on is not None


def _wait_for_new_version(clients, name, old_version):
    deadline = time.monotonic() + 10
    latest = clients.keys.get_key(name)
    while latest.properties.version == old_version and time.monotonic() < deadline:
        time.sleep(0.25)
        latest = clients.keys.get_key(name)
    return latest


def test_sigterm_shuts_down_cleanly_and_removes_the_ready_file(tmp_path: Path):
    process = EmulatorProcess(tmp_path / "stopping").start()

    exit_code = process.stop()

    assert exit_code == 0
    assert (tmp_path / "stopping" / "ready.json").exists() is False
    assert (tmp_path / "stopping" / "ca.pem").exists() is True


def test_a_start_failure_reports_the_emulator_output(tmp_path: Path):
    process = EmulatorProcess(tmp_path / "bad", retention_days=3)

    with pytest.raises(RuntimeError) as raised:
        process.start()

    assert "retention must be 7-90 days" in str(raised.value)


def test_fault_flags_become_rate_rules(tmp_path: Path):
    args = [
        "--fault-throttle-rate",
        "1",
        "--fault-unavailable-rate",
        "0.5",
        "--fault-retry-after",
        "0",
        "--fault-latency-ms",
        "5",
    ]
    with EmulatorProcess(tmp_path / "faulty", extra_args=args) as process:
        rules = process.faults()
        client = make_clients(process.url, process.ca_path, ADMIN, retry_total=0)
        with pytest.raises(HttpResponseError) as raised:
            list(client.access_control.list_role_assignments("/"))

    assert [(r["action"], r["status"], r["rate"], r["retry_after"]) for r in rules] == [
        ("delay", 503, None, None),
        ("error", 429, 1.0, 0.0),
        ("error", 503, 0.5, 0.0),
    ]
    assert rules[0]["latency_ms"] == 5
    assert (raised.value.status_code, error_code(raised.value)) == (429, "Throttled")


def test_an_attestation_authority_flag_is_trusted_and_kept_across_restarts(tmp_path: Path):
    # given
    authority = LocalAttestationAuthority("https://attest.cli.test")
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(authority.jwks()))
    flag = f"--attestation-authority=https://attest.cli.test/={jwks_file}"
    # when
    with EmulatorProcess(tmp_path / "attest", extra_args=[flag]) as process:
        flagged_start = process.attestation_authorities()
    with EmulatorProcess(tmp_path / "attest") as process:
        plain_restart = process.attestation_authorities()
    # then
    assert flagged_start == [{"issuer": "https://attest.cli.test", "jwks": authority.jwks()}]
    assert plain_restart == flagged_start


@pytest.mark.parametrize(
    ("_case", "value", "message"),
    [
        ("no file", "https://attest.cli.test", "use ISSUER=JWKS_FILE"),
        ("missing file", "https://attest.cli.test=/nonexistent.json", "cannot read the JWKS"),
        ("http issuer", "http://attest.cli.test={jwks}", "must be an https URL"),
    ],
)
def test_an_unusable_attestation_authority_flag_stops_the_start(
    _case, value, message, tmp_path: Path
):
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(LocalAttestationAuthority().jwks()))
    flag = f"--attestation-authority={value.format(jwks=jwks_file)}"
    process = EmulatorProcess(tmp_path / "bad-attest", extra_args=[flag], startup_timeout=10)

    with pytest.raises(RuntimeError) as raised:
        process.start()

    assert message in str(raised.value)
