"""Audit trail throughput: appends through record_event, and chain verification over 1M events.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/keywarden_audit_bench \\
        .venv/bin/python bench/bench_audit.py [--events 1000000] [--appends 4000] [--writers 1 8]
        [--runs 3]

Creates (drops first) its own PostgreSQL database — the name must contain "bench", so the dev
database is never touched — and migrates it. Then, `--runs` times each (min/median/max):

1. appends `--appends` events with 1 and with 8 concurrent writer processes, each event in its
   own transaction through `record_event` (one unsealed insert), as the
   workflow does, while `manage.py audit_sealer` runs as its own process; and the same rows
   from the same number of writers as bare INSERT + COMMIT into a copy of the table without
   triggers: the limit of this database in this run. The ratio is record_event's events/s to
   that limit's. During each append run the sealing lag (the oldest unsealed event's age,
   polled every 10 ms) is tracked; after it, the backlog the sealer still had and how long it
   took to drain, and the whole chain verified;
2. builds a valid chain of `--events` events (hashes computed with `audit.chain`, rows loaded
   with COPY) and times `verify_chain` — the code path of `audit_verify` and of the
   verification job — in this process; events/s and the ratio to the 200,000 events/s target.
   Then `manage.py audit_verify` once over it, with its max RSS (constant memory: rows stream
   through a server-side cursor).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import DEFAULT_URL, prepare_environment  # noqa: E402
from core.canonical import canonical_json  # noqa: E402

VERIFY_TARGET = 200_000  # events/s, the figure for a full verification
BARE_TABLE = "bench_bare_auditevent"
ACTIONS = ("request.submitted", "request.approval_added", "request.approved", "request.succeeded")


@dataclass
class Row:
    """One measurement."""

    measure: str
    events: int
    seconds: float
    memory: str = ""

    @property
    def per_second(self) -> float:
        return self.events / self.seconds


def append_writer(barrier, label: str, count: int) -> None:
    """One writer process: `count` events, each in its own transaction."""
    from django.db import connection, transaction

    from audit import Target
    from audit.context import AuditContext
    from audit.services import record_event

    ctx = AuditContext.worker(task_id=label)
    barrier.wait()
    for number in range(count):
        with transaction.atomic():
            record_event(
                ctx,
                ACTIONS[number % len(ACTIONS)],
                target=Target("approvals.changerequest", f"{label}-{number}", "key.rotate pay-x"),
                after={"state": "approved", "attempt": number},
            )
    connection.close()


def bare_writer(barrier, label: str, count: int) -> None:
    """The limit: the same rows, each one INSERT and one COMMIT, nothing else (no audit code)."""
    import json

    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    raw.autocommit = False
    sql = (
        f"INSERT INTO {BARE_TABLE} (occurred_at, actor_label, actor_type, action, target_type, "  # noqa: S608
        "target_id, target_name, team_slug, after, request_id, task_id, hsm_request_id, "
        "client_ip, user_agent) VALUES (now(), %s, 'system', %s, 'approvals.changerequest', "
        "%s, 'key.rotate pay-x', '', %s::jsonb, '', %s, '', '', '')"
    )
    barrier.wait()
    with raw.cursor() as cursor:
        for number in range(count):
            cursor.execute(
                sql,
                (
                    f"worker {label}",
                    ACTIONS[number % len(ACTIONS)],
                    f"{label}-{number}",
                    json.dumps({"attempt": number, "state": "approved"}),
                    label,
                ),
            )
            raw.commit()
    connection.close()


def run_writers(target, total: int, writers: int, monitor: LagMonitor | None = None) -> float:
    """Seconds for `writers` forked processes running `target` over `total // writers` each;
    `monitor` watches the sealing lag meanwhile (from after the fork)."""
    from django.db import connections

    connections.close_all()  # forked writers must open their own connections
    fork = multiprocessing.get_context("fork")
    barrier = fork.Barrier(writers + 1)
    processes = [
        fork.Process(target=target, args=(barrier, f"w{n}", total // writers))
        for n in range(writers)
    ]
    for process in processes:
        process.start()
    if monitor is not None:
        monitor.start()
    barrier.wait()
    started = time.perf_counter()
    for process in processes:
        process.join()
    seconds = time.perf_counter() - started
    if any(process.exitcode for process in processes):
        sys.exit(f"a writer ({target.__name__}) failed")
    return seconds


class LagMonitor(threading.Thread):
    """Polls the age of the oldest unsealed event every 10 ms until `finish()`: the most is
    the sealing lag (insert to sealed; each writer's transaction is its INSERT and COMMIT).
    `finish()` then waits for the sealer to drain what is left and returns those seconds."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.max_lag = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            while not self._done.is_set():
                cursor.execute(
                    "SELECT extract(epoch FROM clock_timestamp() - min(occurred_at)) "
                    "FROM audit_auditevent WHERE sequence IS NULL"
                )
                lag = cursor.fetchone()[0]
                self.max_lag = max(self.max_lag, float(lag or 0))
                time.sleep(0.01)
        connection.close()

    def finish(self, timeout: float = 60) -> float:
        from audit.selectors import unsealed_backlog

        started = time.perf_counter()
        while unsealed_backlog().count and time.perf_counter() - started < timeout:
            time.sleep(0.005)
        drained = time.perf_counter() - started
        self._done.set()
        self.join()
        return drained


def start_sealer() -> subprocess.Popen:
    """`manage.py audit_sealer` as its own process, as a worker runs it; back once it leads."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "audit_sealer"],
        cwd=ROOT,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = [process.stdout.readline(), process.stdout.readline()]  # started, then leading
    if "leading" not in lines[1]:
        sys.exit(f"the audit sealer did not start: {lines!r}")
    return process


def create_bare_table() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {BARE_TABLE}")
        cursor.execute(
            f"CREATE TABLE {BARE_TABLE} (LIKE audit_auditevent INCLUDING DEFAULTS "
            "INCLUDING IDENTITY INCLUDING INDEXES INCLUDING CONSTRAINTS)"
        )


def bench_appends(total: int, writers: int) -> dict:
    """One append run with the sealer running: record_event and the bare limit, the sealing
    lag, and the backlog the sealer still had when the writers were done."""
    from audit.selectors import unsealed_backlog

    events = total // writers * writers
    monitor = LagMonitor()
    audited = run_writers(append_writer, total, writers, monitor)
    left = unsealed_backlog().count
    drained = monitor.finish()
    bare = run_writers(bare_writer, total, writers)
    return {
        "audited": events / audited,
        "bare": events / bare,
        "ratio": (events / audited) / (events / bare),
        "left": left,
        "drain": drained,
        "lag": monitor.max_lag,
    }


def synthetic_rows(count: int):
    """Rows of a valid chain in `RECORD_FIELDS` order, hashed with audit.chain as they go."""
    from audit import chain

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    prev_hash = chain.GENESIS_HASH
    for sequence in range(1, count + 1):
        moment = start + timedelta(microseconds=sequence * 1500)
        fields = {
            "sequence": sequence,
            "occurred_at": chain.format_timestamp(moment),
            "actor_id": None,
            "actor_label": ("alice", "carol", "dave", "worker")[sequence % 4],
            "actor_type": "system" if sequence % 4 == 3 else "anonymous",
            "action": ACTIONS[sequence % len(ACTIONS)],
            "target_type": "approvals.changerequest",
            "target_id": str(sequence // 4),
            "target_name": f"key.rotate pay-orders-{sequence // 4}",
            "team_id": None,
            "team_slug": "payments",
            "before": {"state": "pending"},
            "after": {"state": "approved", "comment": "looks right", "approvals": sequence % 3},
            "request_id": f"{sequence:032x}",
            "task_id": "",
            "hsm_request_id": "",
            "client_ip": "10.0.0.7",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
            "prev_hash": prev_hash,
        }
        prev_hash = chain.compute_hash(fields)
        row = [fields[name] for name in chain.HASHED_FIELDS]
        row[1] = moment
        row[11] = canonical_json(fields["before"])
        row[12] = canonical_json(fields["after"])
        yield (*row, prev_hash)


def load_chain(count: int) -> Row:
    """Empty the table (as a superuser, triggers bypassed) and COPY a valid chain into it."""
    from django.db import connection

    from audit import chain

    columns = ", ".join(chain.RECORD_FIELDS)
    started = time.perf_counter()
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        # No setting allows TRUNCATE; the benchmark runs as a superuser and bypasses triggers.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("TRUNCATE audit_auditevent")
        cursor.execute("SET session_replication_role = origin")
        with cursor.copy(f"COPY audit_auditevent ({columns}) FROM STDIN") as copy:
            for row in synthetic_rows(count):
                copy.write_row(row)
        cursor.execute("ANALYZE audit_auditevent")
    return Row("generate + COPY chain", count, time.perf_counter() - started)


def bench_reference_verify(count: int) -> float:
    """The reference path over the first `count` events, in the same run: records through the
    ORM (`canonical_records`), `core.canonical` encoding, `chain.verify_pairs` (events/s)."""
    from audit import chain
    from audit.chain_selectors import canonical_records
    from audit.models import AuditEvent

    started = time.perf_counter()
    records = canonical_records(AuditEvent.objects.filter(sequence__lte=count), chunk_size=5000)
    report = chain.verify_pairs((record, record.pop("hash")) for record in records)
    seconds = time.perf_counter() - started
    if not report.valid or report.events_checked != count:
        sys.exit(f"unexpected reference verification result: {report.as_dict()}")
    return count / seconds


def bench_verify(count: int, processes: int = 1) -> float:
    """`verify_chain` from this process (ranges in `processes` processes): events/s."""
    from audit.chain_selectors import verify_chain

    started = time.perf_counter()
    report = verify_chain(processes=processes)
    seconds = time.perf_counter() - started
    if not report.valid or report.events_checked != count:
        sys.exit(f"unexpected verification result: {report.as_dict()}")
    return count / seconds


def bench_verify_command(count: int) -> Row:
    """`manage.py audit_verify` as its own process: wall time and that process's max RSS."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "audit_verify"],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"audit_verify failed: {output}")
    print(f"  audit_verify over {count:,}: {output.splitlines()[0]}")
    memory = f"{usage.ru_maxrss / 1024:.0f} MiB max RSS"
    return Row("manage.py audit_verify", count, seconds, memory)


def check_chain(expected: int) -> None:
    from audit.chain_selectors import verify_chain
    from audit.selectors import unsealed_backlog

    report = verify_chain()
    if not report.valid or report.events_checked != expected or unsealed_backlog().count:
        sys.exit(f"appends left a broken or unsealed chain: {report.as_dict()}")


def spread(values: list[float]) -> str:
    """min / median / max."""
    return " / ".join(f"{v:,.2f}" if v < 10 else f"{v:,.0f}" for v in summary(values))


def summary(values: list[float]) -> tuple[float, float, float]:
    return min(values), statistics.median(values), max(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="chain length to verify")
    parser.add_argument("--appends", type=int, default=4000, help="events per append run")
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    prepare_environment(os.environ.get("DATABASE_URL", DEFAULT_URL))
    create_bare_table()
    appended, results = 0, {}
    sealer = start_sealer()
    try:
        for writers in args.writers:
            for run in range(args.runs):
                result = bench_appends(args.appends, writers)
                appended += args.appends // writers * writers
                check_chain(appended)
                results.setdefault(writers, []).append(result)
                print(
                    f"  {writers} writer(s), run {run + 1}: record_event "
                    f"{result['audited']:,.0f}/s, bare INSERT+COMMIT {result['bare']:,.0f}/s, "
                    f"ratio {result['ratio']:.2f}; sealing lag max {result['lag']:.3f} s, "
                    f"{result['left']} unsealed at the end, sealed {result['drain']:.3f} s later"
                )
    finally:
        sealer.terminate()
        sealer.wait()
    verify_memory = bench_verify_command(appended)  # memory baseline: a few thousand events
    loaded = load_chain(args.events)
    print(f"  loaded {args.events:,} events in {loaded.seconds:.1f} s")
    rates, parallel, references = [], [], []
    reference_events = min(args.events, 200_000)
    processes = os.cpu_count() or 1
    for run in range(args.runs):
        rates.append(bench_verify(args.events))
        parallel.append(bench_verify(args.events, processes))
        references.append(bench_reference_verify(reference_events))
        print(
            f"  verify_chain run {run + 1}: {rates[-1]:,.0f} events/s in 1 process, "
            f"{parallel[-1]:,.0f} in {processes}; reference path "
            f"{references[-1]:,.0f} events/s over the first {reference_events:,}"
        )
    command = bench_verify_command(args.events)

    print(f"\nmin / median / max of {args.runs} runs")
    for writers, runs in results.items():
        print(f"append, {writers} writer(s), {args.appends:,} events:")
        print(f"  record_event events/s       {spread([r['audited'] for r in runs])}")
        print(f"  bare INSERT+COMMIT events/s {spread([r['bare'] for r in runs])}")
        print(f"  ratio to bare               {spread([r['ratio'] for r in runs])}")
        print(f"  sealing lag max, s          {spread([r['lag'] for r in runs])}")
        print(f"  left unsealed after writers {spread([r['left'] for r in runs])}")
    print(f"verify_chain over {args.events:,} events:")
    print(f"  events/s, 1 process         {spread(rates)}")
    print(f"  ratio to {VERIFY_TARGET:,}/s target   {spread([r / VERIFY_TARGET for r in rates])}")
    print(f"  events/s, {processes} processes       {spread(parallel)}")
    print(
        f"  ratio to {VERIFY_TARGET:,}/s target   {spread([r / VERIFY_TARGET for r in parallel])}"
    )
    speedups = [rate / reference for rate, reference in zip(rates, references, strict=True)]
    print(f"  reference path events/s     {spread(references)}")
    print(f"  speed-up over reference     {spread(speedups)}")
    print(
        f"manage.py audit_verify: {command.per_second:,.0f} events/s, {command.memory} "
        f"(over {appended:,} events: {verify_memory.memory})"
    )


if __name__ == "__main__":
    main()
