"""Audit trail throughput: appends through record_event, and chain verification over 1M events.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/keywarden_bench \\
        .venv/bin/python bench/bench_audit.py [--events 1000000] [--appends 2000] [--writers 1 8]

Creates (drops first) its own PostgreSQL database — the name must contain "bench", so the dev
database is never touched — and migrates it. Then:

1. appends `--appends` events with 1 and with 8 concurrent writer processes, each event in its
   own transaction through `record_event`, as the workflow does;
2. runs `manage.py audit_verify` over those few thousand events (memory baseline), builds a
   valid chain of `--events` events fast (hashes computed with `audit.chain`, rows loaded
   with COPY), times `verify_chain` — the code path of the command — in this process (with
   tracemalloc's peak on a second pass), then runs `manage.py audit_verify` again: the same
   max RSS as the baseline shows constant memory (rows stream through a server-side cursor).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import DEFAULT_URL, prepare_environment  # noqa: E402
from core.canonical import canonical_json  # noqa: E402

ACTIONS = ("request.submitted", "request.approval_added", "request.approved", "request.succeeded")


@dataclass
class Row:
    """One line of the result table."""

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


def bench_appends(total: int, writers: int) -> Row:
    from django.db import connections

    connections.close_all()  # forked writers must open their own connections
    fork = multiprocessing.get_context("fork")
    barrier = fork.Barrier(writers + 1)
    processes = [
        fork.Process(target=append_writer, args=(barrier, f"w{n}", total // writers))
        for n in range(writers)
    ]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    for process in processes:
        process.join()
    seconds = time.perf_counter() - started
    if any(process.exitcode for process in processes):
        sys.exit("an append writer failed")
    return Row(f"append, {writers} writer(s)", total // writers * writers, seconds)


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


def bench_verify(count: int) -> Row:
    """`verify_chain` in this process: wall time, and the peak of Python allocations."""
    from audit.selectors import verify_chain

    started, cpu_started = time.perf_counter(), time.process_time()
    report = verify_chain()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if not report.valid or report.events_checked != count:
        sys.exit(f"unexpected verification result: {report.as_dict()}")
    tracemalloc.start()
    verify_chain()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    memory = f"{peak / 2**20:.1f} MiB peak traced, {cpu:.1f} s CPU"
    return Row("verify_chain (in process)", count, seconds, memory)


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


def check_appended_chain(expected: int) -> None:
    from audit.selectors import verify_chain

    report = verify_chain()
    if not report.valid or report.events_checked != expected:
        sys.exit(f"appends left a broken chain: {report.as_dict()}")


def print_table(rows: list[Row]) -> None:
    print(f"\n{'measure':<30} {'events':>10} {'seconds':>9} {'events/s':>10}  memory / CPU")
    for row in rows:
        print(
            f"{row.measure:<30} {row.events:>10,} {row.seconds:>9.2f} "
            f"{row.per_second:>10,.0f}  {row.memory}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="chain length to verify")
    parser.add_argument("--appends", type=int, default=2000, help="events per append run")
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()

    prepare_environment(os.environ.get("DATABASE_URL", DEFAULT_URL))
    rows, appended = [], 0
    for writers in args.writers:
        rows.append(bench_appends(args.appends, writers))
        appended += rows[-1].events
        print(f"  {rows[-1].measure}: {rows[-1].per_second:,.0f} events/s")
    check_appended_chain(appended)
    rows.append(bench_verify_command(appended))  # memory baseline: a chain of a few thousand
    rows.append(load_chain(args.events))
    print(f"  loaded {args.events:,} events in {rows[-1].seconds:.1f} s")
    rows.append(bench_verify(args.events))
    rows.append(bench_verify_command(args.events))
    print_table(rows)


if __name__ == "__main__":
    main()
