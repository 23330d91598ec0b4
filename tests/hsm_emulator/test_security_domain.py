"""The security domain through Microsoft's SecurityDomainClient: activation by download, the
quorum download wrapped to three certificates, and recovery of the keys into a new HSM by an
upload made from two of the three private keys (one is refused)."""

from __future__ import annotations

import json

import pytest
from azure.core.exceptions import HttpResponseError
from azure.keyvault.keys.crypto import SignatureAlgorithm
from azure.keyvault.securitydomain import SecurityDomainClient
from emulator_helpers import (
    ADMIN,
    USER,
    error_code,
    grant_test_roles,
    inner_code,
    public_key,
    verify_locally,
)

from hsm_emulator.client.credentials import EmulatorCredential
from hsm_emulator.client.testing import EmulatorProcess, client_kwargs, make_clients
from hsm_emulator.errors import ApiError
from hsm_emulator.securitydomain import jose, payload, shamir
from hsm_emulator.store import Store, VersionSpec
from tests.support.security_domain import (
    certificate_info,
    combine,
    kdf,
    make_holder,
    restore_blob,
    unwrap_share,
)

QUIET = ["--rotation-tick", "3600"]
DIGEST = bytes(range(32))


@pytest.fixture(scope="module")
def holders():
    return [make_holder(f"custodian-{index}") for index in range(3)]


def sd_client(process: EmulatorProcess) -> SecurityDomainClient:
    kwargs = client_kwargs(process.ca_path)
    return SecurityDomainClient(process.url, EmulatorCredential(ADMIN), **kwargs)


def _download(process, holders, required=2) -> str:
    client = sd_client(process)
    result = client.begin_download(certificate_info(holders, required)).result()
    assert client.get_download_status().status == "Success"
    return result.value


def _upload(process, value: str) -> None:
    client = sd_client(process)
    assert client.begin_upload({"value": value}).result() is None
    assert client.get_upload_status().status == "Success"


def _refused(call) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as caught:
        call()
    return caught.value


def test_round_trip_restores_the_same_keys_into_a_new_hsm(tmp_path, holders):
    with EmulatorProcess(tmp_path / "source", extra_args=["--not-activated", *QUIET]) as source:
        admin = make_clients(source.url, source.ca_path, ADMIN)
        refused = _refused(lambda: list(admin.access_control.list_role_assignments("/")))
        assert (refused.status_code, error_code(refused)) == (403, "Forbidden")
        assert inner_code(refused) == "HsmNotActivated"
        _download(source, holders)  # activates
        grant_test_roles(source)
        user = make_clients(source.url, source.ca_path, USER)
        rsa_key = user.keys.create_rsa_key("sd-rsa", size=2048)
        rotated = user.keys.rotate_key("sd-rsa")
        ec_key = user.keys.create_ec_key("sd-ec", curve="P-256")
        signed = {
            (key, alg): user.crypto(key).sign(alg, DIGEST).signature
            for key, alg in (
                (rsa_key, SignatureAlgorithm.rs256),
                (rotated, SignatureAlgorithm.ps256),
                (ec_key, SignatureAlgorithm.es256),
            )
        }
        value = _download(source, holders)
    document = json.loads(value)
    assert document["SharedKeys"]["required"] == 2
    assert {s["x5t_256"] for s in document["SharedKeys"]["enc_shares"]} == {
        holder.thumbprint for holder in holders
    }

    with EmulatorProcess(tmp_path / "target", extra_args=["--not-activated", *QUIET]) as target:
        client = sd_client(target)
        transfer = client.get_transfer_key()
        assert transfer.key_format == "jwk"
        transfer_key = {"x5c": transfer.transfer_key.x5_c}
        keys = make_clients(target.url, target.ca_path, USER).keys
        refused = _refused(lambda: keys.get_key("sd-rsa"))
        assert (refused.status_code, inner_code(refused)) == (403, "HsmNotActivated")
        status = _refused(client.get_upload_status)
        assert error_code(status) == "SecurityDomainOperationNotFound"

        blob = json.loads(restore_blob(value, transfer_key, holders[1:]))
        elsewhere = dict(blob, WrappedKey=dict(blob["WrappedKey"], x5t_256=holders[0].thumbprint))
        refused = _refused(lambda: client.begin_upload({"value": json.dumps(elsewhere)}))
        assert "not wrapped to this HSM's transfer key" in refused.message
        datum = blob["EncData"]["data"][0]
        header, key, iv, data, tag = datum["compact_jwe"].split(".")
        datum["compact_jwe"] = ".".join([header, key, iv, data[:-4] + "AAAA", tag])
        refused = _refused(lambda: client.begin_upload({"value": json.dumps(blob)}))
        assert (refused.status_code, error_code(refused)) == (400, "BadParameter")

        one_share = restore_blob(value, transfer_key, holders[:1], rekey=False)
        refused = _refused(lambda: client.begin_upload({"value": one_share}))
        assert (refused.status_code, error_code(refused)) == (400, "BadParameter")
        assert "fewer shares than its quorum" in refused.message
        admin = make_clients(target.url, target.ca_path, ADMIN)
        still = _refused(lambda: list(admin.access_control.list_role_assignments("/")))
        assert inner_code(still) == "HsmNotActivated"

        _upload(target, restore_blob(value, transfer_key, [holders[0], holders[2]]))
        grant_test_roles(target)
        user = make_clients(target.url, target.ca_path, USER)
        for (original, alg), signature in signed.items():
            key = user.keys.get_key(original.name, original.properties.version)
            assert user.crypto(key).verify(alg, DIGEST, signature).is_valid
            assert key.key.n == original.key.n and key.key.x == original.key.x
            fresh = user.crypto(key).sign(alg, DIGEST).signature
            verify_locally(public_key(original.key), alg, DIGEST, fresh)
        restored = user.keys.get_key("sd-rsa")
        assert restored.properties.version == rotated.properties.version
        assert restored.key.n == rotated.key.n
        versions = [v.version for v in user.keys.list_properties_of_key_versions("sd-rsa")]
        assert sorted(versions) == sorted([rsa_key.properties.version, rotated.properties.version])

        conflict = _refused(lambda: client.begin_upload({"value": one_share}))
        assert (conflict.status_code, inner_code(conflict)) == (409, "HsmAlreadyActivated")


def test_a_restart_keeps_an_hsm_not_activated(tmp_path):
    process = EmulatorProcess(tmp_path / "hsm", extra_args=["--not-activated", *QUIET])
    with process:
        process.stop()
        process.extra_args = list(QUIET)
        process.start()
        keys = make_clients(process.url, process.ca_path, USER).keys
        refused = _refused(lambda: keys.create_rsa_key("k"))
        assert (refused.status_code, inner_code(refused)) == (403, "HsmNotActivated")


def test_the_shares_are_m_of_n_and_wrapped_to_each_certificate(hsm, holders):
    document = json.loads(_download(hsm, holders))
    by_thumbprint = {s["x5t_256"]: s["enc_key"] for s in document["SharedKeys"]["enc_shares"]}
    shares = [unwrap_share(h, by_thumbprint[h.thumbprint]) for h in holders]
    datum = document["EncData"]["data"][0]
    opens = []
    for pair in ([0, 1], [1, 2], [0, 2], [0, 1, 2], [0], [2]):
        key = kdf(combine([shares[i] for i in pair]), datum["tag"])
        try:
            jose.decrypt_dir(key, datum["compact_jwe"])
            opens.append(True)
        except jose.JweError:
            opens.append(False)
    assert opens == [True, True, True, True, False, False]
    assert document["EncData"]["kdf"] == "sp108_kdf"


@pytest.mark.parametrize(
    ("count", "required", "message"),
    [
        (2, 2, "needs 3 to 10 certificates; 2 were given"),
        (3, 1, "must be between 2 and the number of certificates (3); it was 1"),
        (3, 4, "must be between 2 and the number of certificates (3); it was 4"),
    ],
)
def test_download_refuses_too_few_certificates_and_a_bad_quorum(
    hsm, holders, count, required, message
):
    info = certificate_info(holders[:count], required)
    refused = _refused(lambda: sd_client(hsm).begin_download(info))
    assert (refused.status_code, error_code(refused)) == (400, "BadParameter")
    assert message in refused.message


def test_download_refuses_a_thumbprint_of_another_certificate(hsm, holders):
    info = certificate_info(holders, 2)
    info.certificates[1].x5_t_s256 = holders[0].thumbprint
    refused = _refused(lambda: sd_client(hsm).begin_download(info))
    assert (refused.status_code, error_code(refused)) == (400, "BadParameter")
    assert "'certificates[1].x5t#S256' is not the SHA-256 thumbprint" in refused.message


def test_upload_into_an_activated_hsm_is_refused(hsm):
    refused = _refused(lambda: sd_client(hsm).begin_upload({"value": "{}"}))
    assert (refused.status_code, inner_code(refused)) == (409, "HsmAlreadyActivated")


def test_kdf_matches_the_published_sp800_108_vector():
    # The vector of Microsoft's security domain test utilities: key 0x41 * 32, 256 bits.
    expected = "f0ca51f6308791404bf68b56024ee7c64d6c737716f81d47e1e68b5c4e399575"
    assert jose.sp800_108(b"A" * 32, "label", "context", 256).hex() == expected
    assert kdf(b"A" * 32, "label", "context", 256).hex() == expected


def test_shamir_split_combines_from_any_quorum():
    secret = bytes(range(256)) + b"\xff" * 8
    shares = shamir.split(secret, shares=5, required=3)
    assert combine([shares[0], shares[3], shares[4]]) == secret
    assert combine(shares) == secret
    assert combine(shares[:2]) != secret


def test_an_upload_failing_part_way_removes_the_keys_it_recreated(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    source, target = Store(tmp_path / "a"), Store(tmp_path / "b")
    try:
        for name in ("first", "second"):
            spec = VersionSpec(
                kty="oct-HSM",
                key_size=256,
                crv=None,
                key_ops=["wrapKey"],
                public={"kty": "oct-HSM"},
                secret=bytes(32),
            )
            source.keys.add_version(name, spec, now=1_700_000_000)
        keys = payload.parse_keys(payload.export_keys(source))
        with pytest.raises(ApiError) as failed:
            payload.restore_keys(target, [*keys, keys[0]], now=1_700_000_000)  # "first" twice
        assert failed.value.status == 409
        assert target.keys.list_latest(None, 10) == []
        assert target.keys.list_deleted(None, 10) == []
        assert payload.restore_keys(target, keys, now=1_700_000_000) == 2
        assert [k.version for k in target.keys.list_latest(None, 10)] == [
            k.version for k in source.keys.list_latest(None, 10)
        ]
    finally:
        source.close()
        target.close()
