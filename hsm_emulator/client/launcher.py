"""Run the emulator as a subprocess, for the demo, tests and benchmarks.

    with EmulatorProcess(tmp_path / "hsm") as hsm:
        hsm.set_faults([{"match": "POST /keys/.*/create", "status": 429, "count": 1}])

Control calls use a ``requests.Session`` with ``trust_env=False``: the environment's
``REQUESTS_CA_BUNDLE`` would otherwise override ``verify=`` (the CA-bundle trap).
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

STARTUP_TIMEOUT_SECONDS = 30.0


class EmulatorProcess:
    """One ``python -m hsm_emulator serve`` subprocess on a data dir (``--port 0`` at first)."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        initial_admins: list[str] | None = None,
        purge_protection: bool = False,
        retention_days: int | None = None,
        extra_args: tuple[str, ...] | list[str] = (),
        startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
        port: int = 0,
        clock_offset: str | int | None = None,
        clock_start_behind: str | int | None = None,
        job_seconds: float | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.initial_admins = list(initial_admins or [])
        self.purge_protection = purge_protection
        self.retention_days = retention_days
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.clock_offset = clock_offset
        self.clock_start_behind = clock_start_behind
        self.job_seconds = job_seconds
        self.url = ""
        # 0 = any free port; after the first start a restart reuses the port, so URLs and key
        # ids held by clients stay valid across kill() + start().
        self.port = port
        self.ca_path = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._session: requests.Session | None = None

    @property
    def log_path(self) -> Path:
        """Where the subprocess's stdout and stderr go."""
        return self.data_dir / "emulator.log"

    @property
    def pid(self) -> int | None:
        """The subprocess id while it runs."""
        return self._process.pid if self._process else None

    def command(self) -> list[str]:
        """The command line used to start the emulator."""
        command = [sys.executable, "-m", "hsm_emulator", "serve", "--port", str(self.port)]
        command += ["--data-dir", str(self.data_dir)]
        for object_id in self.initial_admins:
            command += ["--initial-admin", object_id]
        if self.purge_protection:
            command.append("--purge-protection")
        if self.retention_days is not None:
            command += ["--retention-days", str(self.retention_days)]
        if self.clock_offset is not None:
            command.append(f"--clock-offset={self.clock_offset}")  # "=": "-P1D" is no flag
        if self.clock_start_behind is not None:
            command.append(f"--clock-start-behind={self.clock_start_behind}")
        if self.job_seconds is not None:
            command += ["--job-seconds", str(self.job_seconds)]
        return command + self.extra_args

    def start(self) -> EmulatorProcess:
        """Start and wait for ``ready.json`` of this very process; raise with its output if not."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ready = self.data_dir / "ready.json"
        ready.unlink(missing_ok=True)  # left behind by a killed predecessor
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=_project_root()
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            document = _read_ready(ready)
            if document is not None and document.get("pid") == self._process.pid:
                self.url, self.port, self.ca_path = (
                    document["url"],
                    document["port"],
                    document["ca"],
                )
                return self
            if self._process.poll() is not None:
                break
            time.sleep(0.05)
        output = self.log_path.read_text(errors="replace")
        self.kill()
        raise RuntimeError(f"hsm_emulator did not become ready: {self.command()}\n{output}")

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait (the emulator removes ready.json); SIGKILL if it hangs.

        Returns the exit code (0 after a clean shutdown), or None if it was not running.
        """
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._close_session()
        return process.returncode

    def kill(self) -> None:
        """SIGKILL without any clean-up (crash/restart tests)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        self._close_session()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- control endpoints ---------------------------------------------------------------------

    def _close_session(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _control(self, method: str, path: str, **kwargs: Any) -> Any:
        if self._session is None:
            self._session = requests.Session()
            self._session.trust_env = False
        response = self._session.request(
            method, f"{self.url}/_emulator/{path}", verify=self.ca_path, timeout=30, **kwargs
        )
        response.raise_for_status()
        return response.json()

    def set_faults(self, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace the fault rules; returns them as the emulator reports them."""
        return self._control("PUT", "faults", json={"rules": rules})["rules"]

    def set_recovery(
        self, *, purge_protection: bool | None = None, retention_days: int | None = None
    ) -> dict[str, Any]:
        """Turn purge protection on/off and set the soft-delete retention (what ARM sets on a
        real HSM); a reset returns to the command line's values."""
        body = {"purge_protection": purge_protection, "retention_days": retention_days}
        body = {name: value for name, value in body.items() if value is not None}
        return self._control("PUT", "recovery", json=body)

    def faults(self) -> list[dict[str, Any]]:
        """Current fault rules with remaining counts."""
        return self._control("GET", "faults")["rules"]

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self._control("DELETE", "faults")

    def requests_since(self, seq: int) -> list[dict[str, Any]]:
        """Logged data-plane requests with a sequence number greater than ``seq``."""
        return self._control("GET", "requests", params={"since": seq})["requests"]

    def latest_seq(self) -> int:
        """The sequence number of the most recent logged request."""
        return self._control("GET", "requests", params={"since": 2**62})["latest_seq"]

    def reset(self) -> None:
        """Wipe keys, deleted keys, custom roles and assignments (initial admins remain)."""
        self._control("POST", "reset")

    def rotation_tick(self) -> list[str]:
        """Run one automatic-rotation pass now; returns the names of rotated keys."""
        return self._control("POST", "rotation/tick")["rotated"]

    def clock(self) -> dict[str, Any]:
        """``{"offset_seconds", "now", "now_iso", "real_now"}``: the emulator's shifted clock."""
        return self._control("GET", "clock")

    def advance_clock(self, duration: str | int | datetime.timedelta) -> dict[str, Any]:
        """Move the emulator's clock forward by an ISO-8601 duration (``"P90D"``), seconds or a
        timedelta; returns ``clock()``. A negative duration is refused (HTTPError 400)."""
        if isinstance(duration, datetime.timedelta):
            duration = int(duration.total_seconds())
        return self._control("POST", "clock", json={"advance": duration})

    def trust_attestation_authority(self, issuer: str, jwks: dict[str, Any]) -> list[dict]:
        """Trust release tokens of ``issuer`` signed with a key of ``jwks`` (kept in the data
        dir); returns every trusted authority."""
        body = {"issuer": issuer, "jwks": jwks}
        return self._control("POST", "attestation/authorities", json=body)["authorities"]

    def set_attestation_authorities(self, authorities: list[dict[str, Any]]) -> list[dict]:
        """Trust exactly these ``{"issuer", "jwks"}`` authorities (``[]``: none)."""
        body = {"authorities": authorities}
        return self._control("PUT", "attestation/authorities", json=body)["authorities"]

    def attestation_authorities(self) -> list[dict[str, Any]]:
        """The trusted attestation authorities, ordered by issuer."""
        return self._control("GET", "attestation/authorities")["authorities"]

    def stats(self) -> dict[str, Any]:
        """Internal state for consistency checks: ``running_job``, ``cached_key_versions``,
        ``cached_key_versions_not_stored`` (empty unless purged material leaked back),
        ``db_connections`` and ``db_max_connections``."""
        return self._control("GET", "stats")

    def set_clock_offset(self, seconds: int) -> dict[str, Any]:
        """Set the offset to ``seconds`` ahead of real time (not less than the current one)."""
        return self._control("POST", "clock", json={"offset_seconds": seconds})

    def set_service_limits(
        self, *, enabled: bool, window_seconds: float = 10.0, limits: dict[str, int] | None = None
    ) -> dict[str, Any]:
        """Switch the service-limits mode (``--enforce-service-limits``) and set its numbers;
        counters start afresh. Returns the configuration with its counters."""
        body = {"enabled": enabled, "window_seconds": window_seconds, "limits": limits or {}}
        return self._control("PUT", "limits", json=body)

    def service_limits(self) -> dict[str, Any]:
        """``{"enabled", "window_seconds", "limits", "admitted", "throttled"}``."""
        return self._control("GET", "limits")


def _read_ready(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def _project_root() -> str:
    # The subprocess must import this very package, wherever the caller's cwd is.
    return str(Path(__file__).resolve().parents[2])
