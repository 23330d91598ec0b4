"""Wire details the SDKs depend on: api-versions, Host-derived URLs, empty version segments,
collapsed slashes, encodings, status codes, request ids, error bodies."""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.keyvault.keys import KeyClient
from emulator_helpers import USER, b64url, digest, error_code

from hsm_emulator.client.credentials import EmulatorCredential, mint_token
from hsm_emulator.client.testing import client_kwargs

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _keys(hsm, url=None, **kwargs) -> KeyClient:
    return KeyClient(
        url or hsm.url, EmulatorCredential(USER), **client_kwargs(hsm.ca_path, **kwargs)
    )


@pytest.mark.parametrize("version", ["7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01"])
def test_every_supported_api_version_is_accepted(version, hsm):
    assert len(_keys(hsm, api_version=version).get_random_bytes(4)) == 4


def test_unknown_api_version_is_bad_parameter(hsm):
    with pytest.raises(HttpResponseError) as raised:
        _keys(hsm, api_version="7.9").get_random_bytes(4)

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")


def test_every_url_follows_the_host_the_client_used(hsm, user, key_name):
    for index in range(3):
        user.keys.create_ec_key(f"{key_name}-{index}")
    via_localhost = _keys(hsm, url=f"https://localhost:{hsm.port}")

    ids = [key.id for key in via_localhost.list_properties_of_key_versions(f"{key_name}-0")]
    listed = [k.id for k in via_localhost.list_properties_of_keys(max_page_size=2)]
    fetched = via_localhost.get_key(f"{key_name}-1")

    assert ids[0].startswith(f"https://localhost:{hsm.port}/keys/{key_name}-0/")
    assert all(item.startswith(f"https://localhost:{hsm.port}/keys/") for item in listed)
    assert fetched.id.startswith(f"https://localhost:{hsm.port}/keys/")


def test_next_link_is_absolute_and_opaque(hsm, user, key_name):
    for index in range(3):
        user.keys.create_ec_key(f"{key_name}-{index}")

    page = user.keys.send_request(HttpRequest("GET", "/keys?maxresults=1")).json()

    assert page["nextLink"].startswith(f"{hsm.url}/keys?api-version=2025-07-01&$skiptoken=")
    assert page["nextLink"].endswith("&maxresults=1")


def test_every_response_carries_a_request_id_matching_the_log(hsm, user, key_name):
    seq = hsm.latest_seq()

    found = user.keys.send_request(HttpRequest("GET", "/rng"))
    missing = user.keys.send_request(HttpRequest("GET", f"/keys/{key_name}/"))

    logged = [entry["request_id"] for entry in hsm.requests_since(seq)]
    assert [found.status_code, missing.status_code] == [400, 404]
    assert [found.headers["x-ms-request-id"], missing.headers["x-ms-request-id"]] == logged
    assert all(UUID.match(request_id) for request_id in logged)


def test_timestamps_are_integers_and_binary_fields_unpadded_base64url(user, key_name):
    user.keys.create_rsa_key(key_name, size=2048)

    bundle = user.keys.send_request(HttpRequest("GET", f"/keys/{key_name}/")).json()

    assert isinstance(bundle["attributes"]["created"], int)
    assert isinstance(bundle["attributes"]["updated"], int)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", bundle["key"]["n"])
    assert bundle["key"]["e"] == "AQAB"


def test_padded_base64url_input_is_accepted(user, key_name):
    key = user.keys.create_ec_key(key_name)
    padded = b64url(digest("ES256", b"padding")) + "="

    response = user.keys.send_request(
        HttpRequest(
            "POST",
            f"/keys/{key_name}/{key.properties.version}/sign",
            json={"alg": "ES256", "value": padded},
        )
    )

    assert response.status_code == 200
    assert response.json()["kid"] == key.id


@pytest.mark.parametrize(
    ("_case", "path"),
    [
        ("empty-version", "/keys/{name}//sign"),
        ("doubled-everywhere", "//keys//{name}///sign"),
    ],
)
def test_empty_version_segments_and_repeated_slashes_mean_latest(_case, path, user, key_name):
    user.keys.create_ec_key(key_name)
    latest = user.keys.rotate_key(key_name)

    response = user.keys.send_request(
        HttpRequest(
            "POST",
            path.format(name=key_name),
            json={"alg": "ES256", "value": b64url(digest("ES256", b"x"))},
        )
    )

    assert response.json()["kid"] == latest.id


def test_rbac_scope_with_triple_slash_is_the_root_scope(admin):
    response = admin.access_control.send_request(
        HttpRequest("GET", "///providers/Microsoft.Authorization/roleDefinitions")
    )

    assert response.status_code == 200
    assert len(response.json()["value"]) >= 9


def test_role_definition_delete_answers_200_with_the_deleted_definition(admin):
    name = str(uuid.uuid4())
    admin.access_control.set_role_definition("/", name=name, role_name=f"tmp-{name[:8]}")

    response = admin.access_control.send_request(
        HttpRequest("DELETE", f"/providers/Microsoft.Authorization/roleDefinitions/{name}")
    )

    assert response.status_code == 200
    assert response.json()["name"] == name


def test_malformed_json_is_bad_parameter(user, key_name):
    response = user.keys.send_request(
        HttpRequest(
            "POST",
            f"/keys/{key_name}/create",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadParameter"


def test_random_bytes_count_zero_is_bad_parameter(user):
    response = user.keys.send_request(HttpRequest("POST", "/rng", json={"count": 0}))

    assert (response.status_code, response.json()["error"]["code"]) == (400, "BadParameter")


def test_unknown_route_is_not_found_and_wrong_method_bad_parameter(user):
    unknown = user.keys.send_request(HttpRequest("GET", "/secrets/s1"))
    wrong_method = user.keys.send_request(HttpRequest("DELETE", "/rng"))

    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "NotFound")
    assert (wrong_method.status_code, wrong_method.json()["error"]["code"]) == (400, "BadParameter")


def test_purge_answers_204_without_body(user, officer, key_name):
    user.keys.create_ec_key(key_name)
    user.keys.begin_delete_key(key_name, _polling_interval=0).wait()

    response = officer.keys.send_request(HttpRequest("DELETE", f"/deletedkeys/{key_name}"))

    assert (response.status_code, response.content) == (204, b"")


def _chunked_post(hsm, path: str, chunks: list[bytes], *, sizes: list[int] | None = None):
    """POST a chunked body over a raw TLS socket; ``sizes`` may claim other chunk sizes."""
    context = ssl.create_default_context(cafile=hsm.ca_path)
    with (
        socket.create_connection(("127.0.0.1", hsm.port)) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        head = (
            f"POST {path}?api-version=7.4 HTTP/1.1\r\nHost: 127.0.0.1:{hsm.port}\r\n"
            f"Authorization: Bearer {mint_token(USER)}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        )
        body = b"".join(
            f"{size:x}\r\n".encode() + chunk + b"\r\n"
            for size, chunk in zip(sizes or [len(c) for c in chunks], chunks, strict=True)
        )
        tls.sendall(head.encode() + body + (b"0\r\n\r\n" if sizes is None else b""))
        response = http.client.HTTPResponse(tls)
        response.begin()
        return response.status, json.loads(response.read() or b"null")


def test_a_chunked_body_is_read_whole(hsm, key_name):
    status, body = _chunked_post(hsm, f"/keys/{key_name}/create", [b'{"kty": ', b'"EC-HSM"}'])

    assert (status, body["key"]["kty"]) == (200, "EC-HSM")


def test_a_chunked_body_over_the_size_limit_is_refused_before_it_is_read(hsm, key_name, user):
    # when: the first chunk alone claims 32 MiB (the limit is 16 MiB); none of it is sent
    status, body = _chunked_post(hsm, f"/keys/{key_name}/create", [b""], sizes=[32 * 2**20])
    # then
    assert status == 400
    assert body["error"]["code"] == "BadParameter"
    assert "too large" in body["error"]["message"]
    with pytest.raises(ResourceNotFoundError):
        user.keys.get_key(key_name)
