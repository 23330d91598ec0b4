"""HTTPS plumbing: a threading HTTP/1.1 server with keep-alive, TLS per connection.

The TLS handshake runs on the connection's own thread (not in ``accept``), so one slow client
cannot stall the others. Each response goes out in a single write: separate header and body
writes would interact with Nagle/delayed-ACK and add ~40 ms per request.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hsm_emulator.dispatch import Drop, Incoming, handle

LOGGER = logging.getLogger("hsm_emulator.server")
MAX_BODY = 16 * 1024 * 1024
_QUIET_ERRORS = (ConnectionError, ssl.SSLError, TimeoutError, BrokenPipeError, OSError)


class EmulatorServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that wraps accepted sockets in TLS lazily."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], app: Any, context: ssl.SSLContext) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        self.ssl_context = context
        super().__init__(address, EmulatorHandler)

    def get_request(self) -> tuple[Any, Any]:
        """Accept and wrap; the handshake happens later on the handler thread."""
        sock, peer = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        wrapped = self.ssl_context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        )
        return wrapped, peer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Disconnects and TLS failures are routine; anything else is logged."""
        LOGGER.debug("connection error from %s", client_address, exc_info=True)


class EmulatorHandler(BaseHTTPRequestHandler):
    """Reads one request at a time from a keep-alive connection and hands it to dispatch."""

    protocol_version = "HTTP/1.1"
    server_version = "hsm_emulator"
    timeout = 300  # idle keep-alive connections are closed after this many seconds
    server: EmulatorServer

    def setup(self) -> None:
        """Finish the TLS handshake before reading (errors end the connection quietly)."""
        super().setup()
        try:
            self.request.do_handshake()
        except _QUIET_ERRORS:
            self.close_connection = True
            raise

    def handle_one_request(self) -> None:
        """Like the base class, but every method goes to ``_serve``."""
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline:
                self.close_connection = True
                return
            if len(self.raw_requestline) > 65536 or not self.parse_request():
                self.close_connection = True
                return
            self._serve()
            self.wfile.flush()
        except _QUIET_ERRORS:
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests (bad request line, headers) get the service's JSON error too."""
        self.close_connection = True
        body = {"error": {"code": "BadParameter", "message": message or explain or "Bad request."}}
        self._write(code, body, {"x-ms-request-id": str(uuid.uuid4())})

    def log_message(self, format: str, *args: Any) -> None:
        """Per-request logging is the request log's job; keep stderr quiet."""

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise ValueError("The request body is too large or its length invalid.")
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        """A chunked body under the same MAX_BODY limit as a Content-Length one, counted as the
        chunks arrive (never read past it)."""
        parts, total = [], 0
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";")[0].strip() or b"0", 16)
            except ValueError as exc:
                raise ValueError("A chunk size is not a hexadecimal number.") from exc
            if size < 0 or total + size > MAX_BODY:
                raise ValueError("The request body is too large or its length invalid.")
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise ValueError("The request body ended inside a chunk.")
            parts.append(chunk)
            total += size
            self.rfile.readline(65537)

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except (ValueError, http.client.HTTPException) as exc:
            self.send_error(400, f"The request body could not be read: {exc}")
            return
        incoming = Incoming(
            method=self.command,
            target=self.path,
            headers={key.lower(): value for key, value in self.headers.items()},
            body=body,
            peer=self.client_address[0],
            local_port=self.server.server_address[1],
        )
        outcome = handle(self.server.app, incoming)
        if isinstance(outcome, Drop):
            self.close_connection = True
            self.request.shutdown(socket.SHUT_RDWR)
            return
        self._write(outcome.status, outcome.body, outcome.headers)

    def _write(self, status: int, body: Any, headers: dict[str, str]) -> None:
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        lines = [f"HTTP/1.1 {status} {reason}", "Cache-Control: no-cache"]
        if payload:
            lines.append("Content-Type: application/json; charset=utf-8")
        if status != 204:
            lines.append(f"Content-Length: {len(payload)}")
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)


def make_tls_context(cert_path: str, key_path: str) -> ssl.SSLContext:
    """Server TLS context (TLS 1.2+) for the emulator's certificate chain."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context
