"""Command line: ``python -m hsm_emulator serve --data-dir DIR [options]``.

Start-up order matters to callers: the CA is written before the socket listens, and
``ready.json`` (written atomically) plus one stdout line appear only once it accepts connections.
SIGTERM/SIGINT stop it cleanly and remove ``ready.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from hsm_emulator import DEFAULT_ADMIN_OID, DEFAULT_TENANT_ID
from hsm_emulator.app import App, Config
from hsm_emulator.attestation import Authority, parse_flag
from hsm_emulator.certs import ensure_private_dir, ensure_tls_material
from hsm_emulator.clock import parse_offset
from hsm_emulator.errors import ApiError
from hsm_emulator.faults import FaultRule
from hsm_emulator.limits import WINDOW_SECONDS, parse_limit_flag
from hsm_emulator.rotation import RotationTicker
from hsm_emulator.server import EmulatorServer, make_tls_context
from hsm_emulator.storage_files import write_atomic


def _retention(value: str) -> int:
    days = int(value)
    if not 7 <= days <= 90:
        raise argparse.ArgumentTypeError("retention must be 7-90 days")
    return days


def _rate(value: str) -> float:
    rate = float(value)
    if not 0 <= rate <= 1:
        raise argparse.ArgumentTypeError("a rate is a fraction between 0 and 1")
    return rate


def _attestation_authority(value: str) -> Authority:
    try:
        return parse_flag(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _job_seconds(value: str) -> float:
    seconds = float(value)
    if not 0 <= seconds <= 3600:
        raise argparse.ArgumentTypeError("job seconds must be between 0 and 3600")
    return seconds


def _clock_offset(value: str) -> int:
    try:
        return parse_offset(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _service_limit(value: str) -> tuple[str, int]:
    try:
        return parse_limit_flag(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``serve`` is the only command)."""
    parser = argparse.ArgumentParser(prog="python -m hsm_emulator")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the Managed HSM emulator over HTTPS")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8443, help="0 picks a free port")
    serve.add_argument("--data-dir", required=True, type=Path)
    serve.add_argument(
        "--initial-admin",
        action="append",
        dest="initial_admins",
        metavar="OID",
        help=f"object id holding Managed HSM Administrator at / (default {DEFAULT_ADMIN_OID})",
    )
    serve.add_argument(
        "--server-name",
        action="append",
        dest="server_names",
        default=[],
        metavar="NAME",
        help="extra DNS name or IP for the TLS certificate (e.g. a compose service name)",
    )
    serve.add_argument("--purge-protection", action="store_true")
    serve.add_argument("--retention-days", type=_retention, default=90)
    serve.add_argument("--tenant-id", default=DEFAULT_TENANT_ID)
    serve.add_argument("--hsm-name", default="emulator", help="used in backup folder names")
    serve.add_argument("--rotation-tick", type=float, default=60.0, metavar="SECONDS")
    serve.add_argument(
        "--clock-offset",
        type=_clock_offset,
        default=0,
        metavar="DURATION",
        help="run this far ahead of real time (ISO-8601 such as P3Y, or seconds); "
        "a larger offset kept in the data dir wins",
    )
    serve.add_argument(
        "--clock-start-behind",
        type=_clock_offset,
        default=0,
        metavar="DURATION",
        help="a NEW data dir's clock starts this far behind real time (ISO-8601 or seconds), "
        "so keys can be made in the past; ignored when the data dir has a clock or keys",
    )
    serve.add_argument(
        "--not-activated",
        action="store_true",
        help="a NEW data dir awaits its security domain: every call but /securitydomain/* is "
        "refused until a download or an upload activates it",
    )
    serve.add_argument(
        "--job-seconds",
        type=_job_seconds,
        default=2.0,
        metavar="SECONDS",
        help="how long full backup and restore jobs stay InProgress (default 2, like the service)",
    )
    serve.add_argument(
        "--attestation-authority",
        action="append",
        dest="attestation_authorities",
        type=_attestation_authority,
        default=[],
        metavar="ISSUER=JWKS_FILE",
        help="trust release tokens of this issuer signed with a key of this local JWKS file",
    )
    serve.add_argument("--fault-throttle-rate", type=_rate, default=0.0)
    serve.add_argument("--fault-unavailable-rate", type=_rate, default=0.0)
    serve.add_argument("--fault-drop-rate", type=_rate, default=0.0)
    serve.add_argument("--fault-latency-ms", type=int, default=0)
    serve.add_argument("--fault-retry-after", type=float, default=1.0, metavar="SECONDS")
    serve.add_argument(
        "--enforce-service-limits",
        action="store_true",
        help="answer 429 + Retry-After beyond the published per-window limits "
        "(hsm_emulator/limits.py; also PUT /_emulator/limits)",
    )
    serve.add_argument("--service-limits-window", type=float, default=WINDOW_SECONDS)
    serve.add_argument(
        "--service-limit",
        action="append",
        dest="service_limits",
        type=_service_limit,
        default=[],
        metavar="CLASS=N",
        help="override one class's requests per window (e.g. key_manage=5)",
    )
    serve.add_argument("--log-level", default="WARNING")
    return parser


def startup_faults(args: argparse.Namespace) -> list[FaultRule]:
    """Rate rules equivalent to the ``--fault-*`` flags (latency first: it only delays)."""
    rules = []
    if args.fault_latency_ms:
        rules.append(FaultRule(match=".*", action="delay", latency_ms=args.fault_latency_ms))
    if args.fault_drop_rate:
        rules.append(FaultRule(match=".*", action="drop", rate=args.fault_drop_rate))
    for status, rate in ((429, args.fault_throttle_rate), (503, args.fault_unavailable_rate)):
        if rate:
            rules.append(
                FaultRule(match=".*", status=status, rate=rate, retry_after=args.fault_retry_after)
            )
    return rules


def _public_url(host: str, port: int) -> str:
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - mapping a bind-all address to loopback
        host = "127.0.0.1"
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def serve(args: argparse.Namespace) -> int:
    """Run until SIGTERM/SIGINT."""
    data_dir = args.data_dir.resolve()
    ensure_private_dir(data_dir)
    tls = ensure_tls_material(data_dir, args.host, tuple(args.server_names))
    config = Config(
        data_dir=data_dir,
        initial_admins=tuple(args.initial_admins or (DEFAULT_ADMIN_OID,)),
        purge_protection=args.purge_protection,
        retention_days=args.retention_days,
        tenant_id=args.tenant_id,
        rotation_tick=args.rotation_tick,
        hsm_name=args.hsm_name,
        clock_offset=args.clock_offset,
        clock_start_behind=args.clock_start_behind,
        not_activated=args.not_activated,
        job_seconds=args.job_seconds,
        attestation_authorities=tuple(args.attestation_authorities),
    )
    app = App.open(config, tls)
    app.faults.replace(startup_faults(args))
    try:
        app.limits.configure(
            enabled=args.enforce_service_limits,
            window=args.service_limits_window,
            limits=dict(args.service_limits),
        )
    except ApiError as exc:
        app.store.close()
        print(f"hsm_emulator: {exc.message}", file=sys.stderr)
        return 2
    server = EmulatorServer(
        (args.host, args.port), app, make_tls_context(str(tls.cert_path), str(tls.key_path))
    )
    port = server.server_address[1]
    # Block the stop signals before any thread starts (threads inherit the mask) and collect
    # them with sigwait: no Python handler can then interrupt a thread holding a lock.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    serving = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="serve", daemon=True
    )
    serving.start()
    ticker = RotationTicker(app.store, app.clock, config.rotation_tick)
    ticker.start()
    ready = data_dir / "ready.json"
    url = _public_url(args.host, port)
    document = {"url": url, "port": port, "pid": os.getpid(), "ca": str(tls.ca_path)}
    write_atomic(ready, json.dumps(document).encode())
    print(f"hsm_emulator listening on https://{args.host}:{port}", flush=True)
    try:
        signal.sigwait(stop_signals)
    finally:
        ready.unlink(missing_ok=True)
        server.shutdown()
        server.server_close()
        ticker.stop()
        app.store.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m hsm_emulator``."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
