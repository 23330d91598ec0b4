"""A real OpenID Connect provider for the sign-in tests: node-oidc-provider over HTTPS.

`OidcProvider` makes a throwaway CA and a `localhost` certificate, starts `provider.mjs` (one
tenant, one confidential client, dev interactions), waits for its discovery document and stops
it again. Applications (`set_app`) get app-only JWT access tokens with the client-credentials
grant (`client_credentials_token`), as Entra ID issues them to service principals.
`ProviderBrowser` plays the user's browser at the provider: it follows the authorize URL
through the login and consent forms and returns the redirect back to the portal unopened.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
import subprocess
import time
import uuid
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HARNESS_DIR = Path(__file__).resolve().parent
START_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class App:
    """A confidential client of the client-credentials grant (a service principal)."""

    client_id: str
    client_secret: str
    object_id: str


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """Write a fresh CA (ca.pem) and a server certificate for localhost/127.0.0.1 it signed."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Keywarden test OIDC CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(
        ca=directory / "ca.pem", cert=directory / "cert.pem", key=directory / "key.pem"
    )
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def ca_session(ca_file: Path) -> requests.Session:
    """A requests session that trusts exactly `ca_file` (REQUESTS_CA_BUNDLE is ignored)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ca_file)
    return session


class OidcProvider:
    """One running node-oidc-provider: tenant, confidential client and editable accounts."""

    def __init__(self, *, work_dir: Path, redirect_uri: str, post_logout_redirect_uri: str):
        self.work_dir = work_dir
        self.tenant_id = str(uuid.uuid4())
        self.client_id = str(uuid.uuid4())
        self.client_secret = secrets.token_urlsafe(32)
        self.redirect_uri = redirect_uri
        self.post_logout_redirect_uri = post_logout_redirect_uri
        self.tls = make_tls_files(work_dir)
        self.accounts_file = work_dir / "accounts.json"
        self.rollover_file = work_dir / "rollover"
        self.apps_file = work_dir / "apps.json"
        self.log_file = work_dir / "provider.log"
        self.issuer = ""
        self._process: subprocess.Popen | None = None
        self._accounts: dict[str, dict] = {}
        self._apps: dict[str, dict] = {}
        self._write_accounts()
        self._write_json(self.apps_file, self._apps)

    @property
    def authority(self) -> str:
        """What Keywarden's ENTRA_AUTHORITY is for this provider (the issuer minus /v2.0)."""
        return self.issuer.removesuffix("/v2.0")

    @property
    def ca_file(self) -> Path:
        return self.tls.ca

    def start(self) -> None:
        if not (HARNESS_DIR / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError(
                "The OIDC test provider is not installed: run `make test` or "
                "`npm ci --prefix tests/support/oidc --no-audit --no-fund`."
            )
        ready_file = self.work_dir / "ready.json"
        config_file = self.work_dir / "config.json"
        config_file.write_text(
            json.dumps(
                {
                    "tenant": self.tenant_id,
                    "client": {
                        "client_id": self.client_id,
                        "client_secret": self.client_secret,
                        "redirect_uris": [self.redirect_uri],
                        "post_logout_redirect_uris": [self.post_logout_redirect_uri],
                    },
                    "accounts_file": str(self.accounts_file),
                    "rollover_file": str(self.rollover_file),
                    "apps_file": str(self.apps_file),
                    "tls": {"cert": str(self.tls.cert), "key": str(self.tls.key)},
                    "ready_file": str(ready_file),
                }
            )
        )
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                ["node", str(HARNESS_DIR / "provider.mjs"), str(config_file)],
                cwd=HARNESS_DIR,
                stdin=subprocess.PIPE,  # closed when this process dies: the provider exits too
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "NODE_ENV": "test"},
            )
        self.issuer = self._wait_for_ready_file(ready_file)["issuer"]
        self._wait_for_discovery()

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.stdin.close()
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None

    def set_account(self, account_id: str, claims: dict, *, signed_by: str = "provider") -> None:
        """Create or replace an account. `signed_by="impostor"` re-signs its ID tokens with a key
        the provider does not publish (same kid); "impostor-unknown-kid" with the impostor's kid;
        "rollover" with the tenant's next key (published while `publish_rollover_key(True)`)."""
        self._accounts[account_id] = {"claims": claims, "id_token_signer": signed_by}
        self._write_accounts()

    def set_app(
        self,
        *,
        roles: list[str] | None = None,
        token_claims: dict | None = None,
        app: App | None = None,
    ) -> App:
        """Register a new application (or change `app`): its tokens carry `roles`; claims in
        `token_claims` replace the issued ones (None removes a claim), still validly signed."""
        app = app or App(str(uuid.uuid4()), secrets.token_urlsafe(32), str(uuid.uuid4()))
        self._apps[app.client_id] = {
            "client_secret": app.client_secret,
            "object_id": app.object_id,
            "roles": roles or [],
            "token_claims": token_claims or {},
        }
        self._write_json(self.apps_file, self._apps)
        return app

    def client_credentials_token(self, app: App, *, resource: str) -> str:
        """An app-only access token for `resource` (its `aud`), from the token endpoint."""
        response = ca_session(self.ca_file).post(
            self.discovery()["token_endpoint"],
            data={
                "grant_type": "client_credentials",
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "resource": resource,
            },
            timeout=10,
        )
        if response.status_code != 200:
            raise AssertionError(f"token endpoint: {response.status_code} {response.text}")
        return response.json()["access_token"]

    def publish_rollover_key(self, published: bool) -> None:
        """Add the tenant's next signing key to its JWKS (or take it out again)."""
        if published:
            self.rollover_file.touch()
        else:
            self.rollover_file.unlink(missing_ok=True)

    def discovery(self) -> dict:
        response = ca_session(self.ca_file).get(
            f"{self.issuer}/.well-known/openid-configuration", timeout=5
        )
        response.raise_for_status()
        return response.json()

    def _write_accounts(self) -> None:
        self._write_json(self.accounts_file, self._accounts)

    @staticmethod
    def _write_json(path: Path, document: dict) -> None:
        staged = path.with_suffix(".tmp")
        staged.write_text(json.dumps(document))
        staged.replace(path)

    def _wait_for_ready_file(self, ready_file: Path) -> dict:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not ready_file.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"OIDC provider did not start:\n{self.log_file.read_text()}")
            time.sleep(0.05)
        return json.loads(ready_file.read_text())

    def _wait_for_discovery(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                self.discovery()
                return
            except requests.RequestException:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"OIDC provider never served discovery:\n{self.log_file.read_text()}"
                    ) from None
                time.sleep(0.05)


class _FormParser(HTMLParser):
    """The first <form> of a page: its action and the values of its inputs."""

    def __init__(self):
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._in_form = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = attributes.get("action") or ""
            self._in_form = True
        elif tag == "input" and self._in_form and attributes.get("name"):
            self.fields[attributes["name"]] = attributes.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False


class ProviderBrowser:
    """The user's browser at the provider: follows redirects and submits the dev forms."""

    def __init__(self, provider: OidcProvider):
        self.provider = provider
        self.session = ca_session(provider.ca_file)

    def sign_in(self, authorize_url: str, account_id: str, *, abort: bool = False) -> str:
        """Follow `authorize_url` as `account_id` and return the redirect back to the portal.

        `abort=True` cancels at the login page instead (the provider answers access_denied)."""
        response = self.session.get(authorize_url, allow_redirects=False, timeout=10)
        for _ in range(10):
            if response.is_redirect:
                location = urljoin(response.url, response.headers["Location"])
                if location.startswith(self.provider.redirect_uri):
                    return location
                response = self.session.get(location, allow_redirects=False, timeout=10)
                continue
            response.raise_for_status()
            if abort:
                abort_url = response.url.rstrip("/") + "/abort"
                response = self.session.get(abort_url, allow_redirects=False, timeout=10)
                continue
            form = _FormParser()
            form.feed(response.text)
            if form.action is None:
                raise AssertionError(f"no form at {response.url}:\n{response.text[:2000]}")
            fields = dict(form.fields)
            if fields.get("prompt") == "login":
                fields.update(login=account_id, password="any-password")  # dev interactions
            response = self.session.post(
                urljoin(response.url, form.action), data=fields, allow_redirects=False, timeout=10
            )
        raise AssertionError("the provider never redirected back to the portal")
