"""Chaos: exactly once in effect while workers die, the broker empties and the HSM misbehaves.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/keywarden_bench_chaos \\
        .venv/bin/python bench/chaos.py [--requests N] [--scenario NAME ...] [--seed S]

One private redis-server, the HSM emulator, 2 execution workers, a sweeper worker on its own
queue and a beat-equivalent loop (bench/chaos_stack.py), all on loopback, with the short
timing of `make test`. Each scenario puts a fresh set of requests through (6 key.create :
3 key.rotate : 1 role.assign; --requests, default 100) while something breaks:

  kill         SIGKILL pool processes and whole workers (restarted) at random moments
  broker       Redis stopped mid-run (emptied: queued messages are lost), back after 5 s
  throttle     30 % of HSM requests answer 429 or 503
  hsm-down     every HSM request fails (503 or a dropped connection) for 15 s mid-run
  slow         10 % of creates and rotates take HSM_TIMEOUT_SECONDS + 2 s (they land late)
  retry-after  50 % of HSM requests answer 429 with Retry-After: 2
  takeover     a 500-request backlog (--requests); one worker killed whole mid-call, one pool
               process killed mid-call: seconds from the kill to the next attempt's start

After each, a bounded wait until every request has ended, then a reconciliation against the
HSM read out of band (bench/chaos_check.py). Exit status 1 when an invariant broke.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import random
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.chaos_stack import TIMING, Stack
from bench.common import ROOT, prepare_environment

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/keywarden_bench_chaos"
ALL = ("kill", "broker", "throttle", "hsm-down", "slow", "retry-after", "takeover")
EVERYTHING = ".*"
CREATE_OR_ROTATE = r"^POST /keys/[^/]+/(create|rotate)$"


@dataclass
class Run:
    """One scenario in progress, as its harm thread sees it."""

    stack: Stack
    rng: random.Random
    spread: float
    base_faults: list[dict]
    done: threading.Event = field(default_factory=threading.Event)
    notes: list[str] = field(default_factory=list)

    def wait(self, seconds: float) -> bool:
        """Sleep; True when the scenario ended meanwhile."""
        return self.done.wait(seconds)


def kill_workers(run: Run, kills: int = 6) -> None:
    """At random moments, SIGKILL the worker inside an attempt (any one when none is):
    alternately its pool process, and the whole worker (then started again)."""
    for number in range(kills):
        if run.wait(run.rng.uniform(1.5, 4.0)):
            return
        worker = busy_worker(run.stack) or run.rng.choice(run.stack.workers)
        if number % 2 == 0:
            pid = run.stack.kill_pool_child(worker, run.rng)
            run.notes.append(f"pool process {pid} killed")
        else:
            run.stack.kill_worker(worker)
            run.notes.append(f"worker {worker.hostname} killed and restarted")


def busy_worker(stack: Stack, patience: float = 2.0):
    """The worker holding a RUNNING attempt, waiting up to `patience` seconds for one."""
    from approvals.models import AttemptOutcome, Execution

    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        running = Execution.objects.filter(outcome=AttemptOutcome.RUNNING)
        for task_id in running.values_list("task_id", flat=True):
            worker = stack.worker_holding(task_id)
            if worker is not None:
                return worker
        time.sleep(0.02)
    return None


def broker_outage(run: Run) -> None:
    if not run.wait(run.spread * 0.4):
        run.stack.broker_outage(5)
        run.notes.append("redis stopped (emptied) for 5 s")


def hsm_down(run: Run) -> None:
    if run.wait(run.spread * 0.3):
        return
    down = [
        {"match": EVERYTHING, "status": 503, "rate": 0.5},
        {"match": EVERYTHING, "action": "drop"},
    ]
    run.stack.hsm.process.set_faults(run.base_faults + down)
    run.wait(15)
    run.stack.hsm.process.set_faults(run.base_faults)
    run.notes.append("HSM down (503 or drop) for 15 s")


@dataclass(frozen=True)
class Scenario:
    name: str
    faults: Callable[[], list[dict]] = list  # armed for the whole run
    harm: Callable[[Run], None] | None = None  # runs beside the approvals
    settle: Callable[[], float] = float  # seconds before reconciling (late calls land)


def slow_calls() -> list[dict]:
    from django.conf import settings

    late_ms = (settings.HSM_TIMEOUT_SECONDS + 2) * 1000
    return [{"match": CREATE_OR_ROTATE, "action": "delay", "latency_ms": late_ms, "rate": 0.1}]


def slow_settle() -> float:
    from django.conf import settings

    return settings.HSM_TIMEOUT_SECONDS + 3.0


SCENARIOS = {
    "kill": Scenario("kill", harm=kill_workers),
    "broker": Scenario("broker", harm=broker_outage),
    "throttle": Scenario(
        "throttle",
        faults=lambda: [
            {"match": EVERYTHING, "status": 429, "rate": 0.15},
            {"match": EVERYTHING, "status": 503, "rate": 0.1765},  # 0.15 of the other 0.85
        ],
    ),
    "hsm-down": Scenario("hsm-down", harm=hsm_down),
    "slow": Scenario("slow", faults=slow_calls, settle=slow_settle),
    "retry-after": Scenario(
        "retry-after",
        faults=lambda: [{"match": EVERYTHING, "status": 429, "retry_after": 2, "rate": 0.5}],
    ),
}


def run_scenario(stack: Stack, scenario: Scenario, users, args, rng: random.Random) -> tuple:
    """Submit, break things while the last approvals trickle in, wait, reconcile."""
    from bench.chaos_check import activity, reconcile
    from bench.chaos_load import approve_paced, plan, prepare_keys, submit_all, wait_terminal

    planned = plan(scenario.name, args.requests or 100, rng)
    prepare_keys(stack.hsm, planned)
    changes = submit_all(users, planned)
    base = [{"match": EVERYTHING, "action": "delay", "latency_ms": args.hsm_latency_ms}]
    stack.hsm.process.set_faults(base + scenario.faults())
    seq = stack.hsm.process.latest_seq()
    run = Run(stack=stack, rng=rng, spread=args.spread, base_faults=base)
    harm = threading.Thread(target=_harm, args=(scenario, run), daemon=True)
    started = time.monotonic()
    harm.start()
    approve_paced(changes, users, spread=args.spread)
    wait_terminal(changes, timeout=args.timeout)
    seconds = time.monotonic() - started
    run.done.set()
    harm.join(60)
    stack.hsm.process.clear_faults()
    time.sleep(scenario.settle())
    stack.ensure_healthy()
    notes = [*run.notes, *activity(stack.hsm, seq, changes)]
    return reconcile(stack.hsm, changes), seconds, notes


def _harm(scenario: Scenario, run: Run) -> None:
    from django.db import connection

    try:
        if scenario.harm is not None:
            scenario.harm(run)
    finally:
        connection.close()


def run_takeover(stack: Stack, users, args, rng: random.Random) -> tuple:
    """A backlog queued while the execution workers are down; two requests' HSM calls take
    3 s and their workers die in them: one whole worker (the sweeper's lease path), one pool
    process (redelivery)."""
    from bench.chaos_check import activity, reconcile
    from bench.chaos_load import approve_backlog, plan, submit_all, wait_terminal
    from bench.chaos_takeover import describe, kill_mid_call

    planned = plan("takeover", args.requests or 500, rng, mix=("key.create",))
    changes = submit_all(users, planned)
    targets = [changes[len(changes) // 10], changes[len(changes) // 3]]
    slow = [
        {"match": f"^POST /keys/{t.key_name}/create$", "action": "delay", "latency_ms": 3000}
        for t in targets
    ]
    base = [{"match": EVERYTHING, "action": "delay", "latency_ms": args.hsm_latency_ms}]
    stack.hsm.process.set_faults(base + [{**rule, "count": 1} for rule in slow])
    seq = stack.hsm.process.latest_seq()
    started = time.monotonic()
    approve_backlog(stack, changes, users)
    kills = [
        kill_mid_call(stack, target, whole=whole, timeout=args.timeout)
        for target, whole in zip(targets, (True, False), strict=True)
    ]
    wait_terminal(changes, timeout=args.timeout)
    seconds = time.monotonic() - started
    notes = [describe(kill) for kill in kills]
    stack.hsm.process.clear_faults()
    stack.ensure_healthy()
    notes += activity(stack.hsm, seq, changes)
    return reconcile(stack.hsm, changes), seconds, notes


def run_one(name: str, stack: Stack, users, args, rng: random.Random) -> tuple:
    """One scenario; a crash is reported as its result (and breaks the run's exit status)."""
    from bench.chaos_check import Verdict

    started = time.monotonic()
    try:
        if name == "takeover":
            return run_takeover(stack, users, args, rng)
        return run_scenario(stack, SCENARIOS[name], users, args, rng)
    except Exception as exc:  # reported as the result; the exit status becomes 1
        traceback.print_exc()
        stack.hsm.process.clear_faults()
        stack.ensure_healthy()
        crashed = Verdict(problems=[f"CRASHED: {exc!r}"])
        return crashed, time.monotonic() - started, []


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--requests", type=int, help="per scenario (default 100; takeover 500)")
    parser.add_argument("--scenario", nargs="+", choices=ALL, default=list(ALL))
    parser.add_argument("--spread", type=float, default=20, help="seconds of last approvals")
    parser.add_argument("--timeout", type=float, default=240, help="wait bound per scenario")
    parser.add_argument("--hsm-latency-ms", type=int, default=20, help="added to every call")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    name = urlsplit(args.database_url).path.lstrip("/")
    if "chaos" not in name:
        sys.exit(f"refusing database {name!r}: a chaos database name contains 'chaos'")
    return args


def main() -> int:
    from tests.support.redis import RedisServer

    args = parse_args()
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>`: where a hung run waits
    workdir = ROOT / "var" / "bench" / "chaos"
    shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "redis").mkdir(parents=True)
    broker = RedisServer(workdir / "redis").start()
    prepare_environment(
        args.database_url,
        HSM_CREDENTIAL="emulator",
        CELERY_BROKER_URL=broker.url,
        CELERY_RESULT_BACKEND=broker.url,
        CELERY_QUEUE=f"keywarden-chaos-{time.time_ns()}",
        **TIMING,
    )
    from bench.chaos_load import people
    from bench.chaos_report import report

    for name in ("approvals.dispatch", "approvals.notifications"):
        # Their warnings are expected while the broker is down; the sweeper covers them.
        logging.getLogger(name).setLevel(logging.ERROR)

    stack, rng, results = Stack(workdir, broker), random.Random(args.seed), []
    try:
        stack.start()
        users = people()
        for name in args.scenario:
            print(f"chaos: {name} …", file=sys.stderr, flush=True)
            results.append((name, *run_one(name, stack, users, args, rng)))
    finally:
        stack.stop()
        broker.stop()
    return report(results, stack=stack, workdir=workdir)


if __name__ == "__main__":
    sys.exit(main())
