"""A local HTTP receiver standing in for Microsoft Teams and Slack incoming webhooks: a tiny
threaded http.server that records every JSON POST and answers with the statuses a test
scripts per path (200 once the script runs out)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    body: dict
    status: int  # what the receiver answered


class WebhookReceiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.scripted: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"null")
                with receiver._lock:
                    statuses = receiver.scripted.get(self.path, [])
                    status = statuses.pop(0) if statuses else 200
                    receiver.received.append(Received(self.path, body, status))
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"1" if status == 200 else b"error")

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def answer(self, path: str, *statuses: int) -> None:
        """Answer the next POSTs to `path` with `statuses`, in order."""
        with self._lock:
            self.scripted[path] = list(statuses)

    def posts(self, path: str) -> list[Received]:
        with self._lock:
            return [item for item in self.received if item.path == path]

    def wait_for(self, path: str, count: int, timeout: float = 30) -> list[Received]:
        """The POSTs to `path` once there are `count` of them (AssertionError at `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.posts(path)) >= count:
                return self.posts(path)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.posts(path))} POSTs to {path}, wanted {count}")
