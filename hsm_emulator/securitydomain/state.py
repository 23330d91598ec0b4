"""Activation and the two long-running operations (download, upload) of one emulator.

An HSM started ``--not-activated`` refuses every data-plane call but the security domain's until a
download or an upload succeeds; the state lives in ``DIR/securitydomain.json``, so a restart keeps
it (a data dir without that file is activated, as every emulator was before). One download or
upload runs at a time; its status (``InProgress`` → ``Success`` or ``Failed``) is what the
``…/pending`` endpoints answer.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hsm_emulator.errors import ApiError, conflict, not_found
from hsm_emulator.securitydomain.transfer import TransferKeyFile
from hsm_emulator.storage_files import write_atomic

LOGGER = logging.getLogger("hsm_emulator.securitydomain")
STATE_FILE = "securitydomain.json"
PATH_PREFIX = "/securitydomain"
KINDS = ("download", "upload")


def not_activated() -> ApiError:
    """403 for any call but the security domain's while the HSM is not activated."""
    return ApiError(
        403,
        "Forbidden",
        "This managed HSM is not activated: download its security domain "
        "(POST /securitydomain/download) or upload one (POST /securitydomain/upload) first.",
        inner="HsmNotActivated",
    )


class SecurityDomainState:
    """Thread-safe activation flag, operation statuses and the transfer key of one data dir."""

    def __init__(self, data_dir: Path, *, not_activated: bool = False) -> None:
        self._file = data_dir / STATE_FILE
        self._lock = threading.Lock()
        self._statuses: dict[str, dict[str, Any]] = {}
        self._running: str | None = None
        self.transfer = TransferKeyFile(data_dir)
        if self._file.exists():
            self._activated = bool(json.loads(self._file.read_bytes())["activated"])
        else:
            self._activated = not not_activated
            if not_activated:
                self._persist()

    @property
    def activated(self) -> bool:
        """Whether the HSM serves calls other than the security domain's."""
        return self._activated

    def _persist(self) -> None:
        write_atomic(self._file, json.dumps({"activated": self._activated}).encode())

    def ensure_activated(self, path: str) -> None:
        """Raise 403 (HsmNotActivated) for a non-security-domain path while not activated."""
        if not self._activated and not path.lower().startswith(PATH_PREFIX):
            raise not_activated()

    def ensure_not_activated(self) -> None:
        """An upload restores a new HSM: refused (409) once this one is activated."""
        if self._activated:
            raise conflict(
                "This managed HSM is already activated; a security domain can be uploaded only "
                "into an HSM that awaits one (started with --not-activated).",
                inner="HsmAlreadyActivated",
            )

    def start(self, kind: str, work: Callable[[], str], *, detail: str) -> dict[str, Any]:
        """Record ``kind`` InProgress and run ``work`` (returning the success detail) on a
        thread; success activates the HSM. 409 while another download or upload runs."""
        with self._lock:
            if self._running is not None:
                raise conflict(f"A security domain {self._running} is in progress.")
            self._running = kind
            status = {"status": "InProgress", "status_details": detail}
            self._statuses[kind] = status
        threading.Thread(
            target=self._run, args=(kind, work), name=f"securitydomain-{kind}", daemon=True
        ).start()
        return dict(status)

    def _run(self, kind: str, work: Callable[[], str]) -> None:
        try:
            detail = work()
            with self._lock:
                if not self._activated:
                    self._activated = True
                    self._persist()
            final: dict[str, Any] = {"status": "Success", "status_details": detail}
        except ApiError as error:
            final = {"status": "Failed", "status_details": error.message, **error.body()}
        except Exception as exc:
            LOGGER.exception("securitydomain.%s.failed", kind)
            final = {
                "status": "Failed",
                "status_details": str(exc),
                "error": {"code": "InternalServerError", "message": str(exc)},
            }
        with self._lock:
            self._statuses[kind] = final
            self._running = None

    def status(self, kind: str) -> dict[str, Any]:
        """The latest ``kind`` operation's status; 404 when none ran in this process."""
        with self._lock:
            status = self._statuses.get(kind)
        if status is None:
            raise not_found(
                "SecurityDomainOperationNotFound",
                f"No security domain {kind} has been started on this HSM.",
            )
        return dict(status)
