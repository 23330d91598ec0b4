"""Challenge-based bearer authentication: the 401 probe, and tokens the emulator refuses."""

from __future__ import annotations

import time

import pytest
from azure.core import PipelineClient
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest as RestRequest
from azure.keyvault.administration._internal import http_challenge_cache as admin_challenges
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys._shared import http_challenge_cache as key_challenges
from emulator_helpers import USER, error_code, unsigned_jwt

from hsm_emulator.client.credentials import EmulatorCredential
from hsm_emulator.client.testing import client_kwargs, make_clients

CHALLENGE = (
    'Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001",'
    ' resource="https://managedhsm.azure.net"'
)


class RecordingCredential(EmulatorCredential):
    """Records what the SDK's challenge policy asks the credential for."""

    def __init__(self, object_id: str) -> None:
        super().__init__(object_id)
        self.calls: list[tuple[tuple[str, ...], dict]] = []

    def get_token_info(self, *scopes, options=None):
        self.calls.append((scopes, dict(options or {})))
        return super().get_token_info(*scopes, options=options)


class StaticCredential:
    """Hands out one fixed token, whatever it is."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes, **kwargs):
        return AccessToken(self.token, int(time.time()) + 3600)


def _logged(hsm, seq):
    return [(e["method"], e["path"], e["status"], e["principal"]) for e in hsm.requests_since(seq)]


def test_first_call_is_an_unauthenticated_probe_answered_with_the_challenge(hsm):
    key_challenges.clear()
    credential = RecordingCredential(USER)
    client = KeyClient(hsm.url, credential, **client_kwargs(hsm.ca_path))
    seq = hsm.latest_seq()

    client.get_random_bytes(4)

    assert _logged(hsm, seq) == [("POST", "/rng", 401, None), ("POST", "/rng", 200, USER)]
    scopes, options = credential.calls[0]
    assert scopes == ("https://managedhsm.azure.net/.default",)
    assert options["tenant_id"] == "00000000-0000-0000-0000-000000000001"


def test_access_control_client_probes_too(hsm, admin):
    admin_challenges.clear()
    seq = hsm.latest_seq()

    list(admin.access_control.list_role_definitions("/"))

    statuses = [(status, principal) for _, _, status, principal in _logged(hsm, seq)]
    assert statuses == [(401, None), (200, admin.credential.object_id)]


def test_challenge_header_and_empty_body_on_every_unauthenticated_route(hsm):
    transport = RequestsTransport(connection_verify=hsm.ca_path)
    client = PipelineClient(base_url=hsm.url, transport=transport)
    paths = [
        ("POST", "/keys/x/create"),
        ("GET", "/keys/x/"),
        ("PUT", "/providers/Microsoft.Authorization/roleAssignments/a"),
        ("POST", "/backup"),
        ("GET", "/settings"),
        ("GET", "/no/such/route"),
    ]

    responses = [
        client.send_request(RestRequest(method, f"{hsm.url}{path}?api-version=2025-07-01"))
        for method, path in paths
    ]

    assert [r.status_code for r in responses] == [401] * len(paths)
    assert {r.headers["WWW-Authenticate"] for r in responses} == {CHALLENGE}
    assert {r.content for r in responses} == {b""}


@pytest.mark.parametrize(
    ("_case", "credential"),
    [
        ("wrong-audience", EmulatorCredential(USER, audience="https://vault.azure.net")),
        ("expired", EmulatorCredential(USER, lifetime_seconds=-60)),
        ("malformed", StaticCredential("not-a-jwt")),
        (
            "no-oid",
            StaticCredential(
                unsigned_jwt({"aud": "https://managedhsm.azure.net", "exp": time.time() + 600})
            ),
        ),
    ],
)
def test_unacceptable_tokens_are_unauthorized(_case, credential, hsm):
    client = KeyClient(hsm.url, credential, **client_kwargs(hsm.ca_path))

    with pytest.raises(ClientAuthenticationError) as raised:
        client.get_random_bytes(4)

    assert raised.value.status_code == 401
    assert error_code(raised.value) == "Unauthorized"


def test_caller_identity_comes_from_the_oid_claim(hsm):
    seq = hsm.latest_seq()

    make_clients(hsm.url, hsm.ca_path, USER).keys.get_random_bytes(2)

    assert _logged(hsm, seq)[-1] == ("POST", "/rng", 200, USER)
