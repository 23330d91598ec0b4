"""The approval pipeline against the same work done straight through the gateway.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/keywarden_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python bench/bench_pipeline.py [--requests 200] [--latencies 0 20 50] [--runs 3]

Every HSM request gets each of `--latencies` ms of added latency (a real Managed HSM answers in
tens of milliseconds; the emulator in about one); `--runs` runs at each, interleaved, and the
ratio pipeline ÷ direct of each run is reported as min / median / max. In one run:

1. direct: the N key creations through the gateway from 2 threads, exactly as a worker makes
   them (look for the key, then create it — a create on a taken name would silently add a
   version), and, for reference, bare creates without the check;
2. pipeline: N key.create requests, approved by two custodians in one burst, carried out by 2
   Celery worker processes (claim → HSM → record, audit events, inventory); their emails go
   to a third process on the notification queue, as in docker-compose.yml (the clock starts
   once the untimed submissions' "approval needed" mails are out: only the approval's and
   the result's are the burst's, and each run starts once the earlier runs' are out too);
3. latency (once per latency, after the runs): requests approved one at a time; median
   approval-to-done time.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import DEFAULT_URL, ROOT, prepare_environment, print_table

ADMIN = "00000000-0000-0000-0000-00000000a001"


def direct(gateway, names: list[str], *, checked: bool) -> float:
    """Seconds for creating every key from 2 threads."""

    def create(name: str) -> None:
        if checked:
            gateway.find_key(name)
        gateway.create_key(name, kty="EC-HSM", curve="P-256", key_ops=["sign", "verify"])

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(create, names))
    return time.perf_counter() - started


def people():
    from accounts.models import User
    from accounts.services import save_team, set_user_access
    from audit.context import AuditContext

    ctx = AuditContext.system("bench")
    team = save_team(slug="payments", name="Payments", key_prefix="pay-", ctx=ctx)
    users = {}
    for name, teams, roles in (
        ("alice", [team], []),
        ("carol", [], ["custodian"]),
        ("dave", [], ["custodian"]),
    ):
        users[name] = User.objects.create(username=name, email=f"{name}@example.com")
        set_user_access(user=users[name], teams=teams, roles=roles, ctx=ctx)
    return users


@contextmanager
def execution_stack(name: str, *, concurrency: int):
    """The emulator with Keywarden's role bootstrapped, two execution worker processes (of
    `concurrency` slots each) and one for emails on their own queue, as in docker-compose.yml
    (worker + notifier): yields (emulator, log directory); the workers stop on the way out."""
    from django.conf import settings

    from hsm_emulator.client.launcher import EmulatorProcess
    from keys.gateway import build_gateway, get_gateway
    from keys.services.bootstrap import bootstrap_keywarden_role
    from tests.support.worker import LiveWorker

    with tempfile.TemporaryDirectory() as data_dir, EmulatorProcess(data_dir) as hsm:
        settings.HSM_URL, settings.HSM_CA_FILE = hsm.url, hsm.ca_path
        get_gateway.cache_clear()
        bootstrap_keywarden_role(admin_gateway=build_gateway(object_id=ADMIN))
        logs = ROOT / "var" / "bench" / name
        shutil.rmtree(logs, ignore_errors=True)
        workers = [
            *(
                LiveWorker(
                    log_dir=logs / f"worker{n}",
                    concurrency=concurrency,
                    queues=settings.CELERY_EXECUTION_QUEUES,
                )
                for n in range(2)
            ),
            LiveWorker(
                log_dir=logs / "notifier", concurrency=1, queues=(settings.CELERY_NOTIFY_QUEUE,)
            ),
        ]
        for worker in workers:
            worker.log_path.parent.mkdir(parents=True)
            worker.start()
        try:
            yield hsm, logs
        finally:
            for worker in workers:
                worker.stop()


def submitted(users, names: list[str], *, justification: str = "bench") -> list:
    """Pending key.create requests for `names`, each with its first approval (not timed); it
    returns once every notice so far is out (theirs and the earlier bursts'), so the
    notifier's work on them is not counted in the next burst's time."""
    params = {"kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign"]}
    changes = [
        submit_with_first_approval(users, "key.create", {"name": name, **params}, justification)
        for name in names
    ]
    wait_notified()
    return changes


def wait_notified(timeout: float = 600) -> None:
    """Until every request's notices are sent: "approval needed" for each, and "decided" and
    "finished" for each one done; none of their deliveries left to send. A failed delivery
    ends the benchmark (the mails go to files)."""
    from django.db.models import Count, Q

    from approvals.models import ChangeRequest
    from notifications.models import Delivery, DeliveryState, Notice

    deadline = time.monotonic() + timeout
    while True:
        requests = ChangeRequest.objects.aggregate(
            all=Count("pk"), done=Count("pk", filter=Q(state__in=["succeeded", "failed"]))
        )
        expected = requests["all"] + 2 * requests["done"]
        states = set(Delivery.objects.values_list("state", flat=True).distinct())
        if DeliveryState.FAILED in states:
            sys.exit("a notification could not be delivered")
        unsent = states & {DeliveryState.PENDING, DeliveryState.SENDING}
        if Notice.objects.count() >= expected and not unsent:
            return
        if time.monotonic() > deadline:
            sys.exit("the notifier did not finish in time")
        time.sleep(0.2)


def submit_with_first_approval(users, operation: str, params: dict, justification: str):
    """alice's request, approved once by carol: one approval short of running."""
    from approvals import services
    from audit.context import AuditContext

    change = services.submit_request(
        requester=users["alice"],
        operation=operation,
        team="payments",
        justification=justification,
        params=params,
        ctx=AuditContext(actor=users["alice"]),
    )
    approve_as(users["carol"], change)
    return change


def final_approval(change, users) -> None:
    """dave's approval: the request becomes APPROVED and is dispatched."""
    approve_as(users["dave"], change)


def approve_as(custodian, change) -> None:
    from approvals import services
    from audit.context import AuditContext

    services.approve_request(
        request_id=change.pk, custodian=custodian, comment="", ctx=AuditContext(actor=custodian)
    )


def wait_done(changes, timeout: float = 600) -> None:
    from approvals.models import ChangeRequest

    ids, deadline = [c.pk for c in changes], time.monotonic() + timeout
    while ChangeRequest.objects.filter(pk__in=ids, state__in=["succeeded", "failed"]).count() < len(
        ids
    ):
        if time.monotonic() > deadline:
            sys.exit("the pipeline did not finish in time")
        time.sleep(0.05)
    failed = ChangeRequest.objects.filter(pk__in=ids, state="failed").count()
    if failed:
        sys.exit(f"{failed} requests failed")


def pipeline_burst(changes, users) -> float:
    """Seconds from the commit that approves them all (every dispatch leaves then) until every
    request is done."""
    from django.db import transaction

    started: list[float] = []
    with transaction.atomic():
        for change in changes:
            final_approval(change, users)
        transaction.on_commit(lambda: started.append(time.perf_counter()))
    wait_done(changes)
    return time.perf_counter() - started[0]


def latencies(changes, users) -> list[float]:
    from approvals.models import ChangeRequest

    for change in changes:
        final_approval(change, users)
        wait_done([change])
    done = ChangeRequest.objects.filter(pk__in=[c.pk for c in changes])
    return [(c.finished_at - c.decided_at).total_seconds() for c in done]


def measure(hsm, gateway, users, *, latency_ms: int, count: int, tag: str) -> dict:
    """One run at `latency_ms`: seconds for the direct calls and for the pipeline."""
    hsm.set_faults([{"match": ".*", "action": "delay", "latency_ms": latency_ms, "rate": 1.0}])
    checked = direct(gateway, [f"pay-direct-{tag}-{n}" for n in range(count)], checked=True)
    bare = direct(gateway, [f"pay-bare-{tag}-{n}" for n in range(count)], checked=False)
    burst = submitted(users, [f"pay-pipe-{tag}-{n}" for n in range(count)])
    piped = pipeline_burst(burst, users)
    return {"direct": checked, "bare": bare, "pipeline": piped}


def spread(values: list[float]) -> str:
    """min / median / max, as percentages."""
    return " / ".join(f"{v:.0%}" for v in (min(values), statistics.median(values), max(values)))


def report(results: dict[int, list[dict]], waits: dict[int, list[float]], count: int) -> None:
    print(
        f"{count} key creations per run, 2 threads (direct) / 2 worker processes (pipeline); "
        "ratio = pipeline operations/s ÷ direct operations/s, measured in the same run\n"
    )
    rows = []
    for latency_ms, runs in results.items():
        ratios = [run["direct"] / run["pipeline"] for run in runs]
        bare = [run["bare"] / run["pipeline"] for run in runs]
        rows.append(
            (
                f"{latency_ms} ms",
                len(runs),
                " / ".join(f"{count / run['direct']:.0f}" for run in runs),
                " / ".join(f"{count / run['pipeline']:.0f}" for run in runs),
                spread(ratios),
                spread(bare),
                f"{statistics.median(waits[latency_ms]) * 1000:.0f} ms",
            )
        )
    print_table(
        (
            "HSM latency",
            "runs",
            "direct ops/s",
            "pipeline ops/s",
            "pipeline ÷ direct (min/med/max)",
            "÷ bare create",
            "median approve→done",
        ),
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--latencies", type=int, nargs="+", default=[0, 20, 50], help="added ms per HSM request"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-samples", type=int, default=10)
    args = parser.parse_args()
    prepare_environment(
        args.database_url,
        HSM_CREDENTIAL="emulator",
        CELERY_QUEUE=f"keywarden-bench-{time.time_ns()}",
    )

    from keys.gateway import get_gateway

    count = args.requests
    results: dict[int, list[dict]] = {latency: [] for latency in args.latencies}
    waits: dict[int, list[float]] = {}
    with execution_stack("pipeline", concurrency=1) as (hsm, logs):
        users = people()
        gateway = get_gateway()
        # Runs interleave the latencies, so a burst of load from elsewhere on the machine
        # spreads over all of them instead of spoiling one.
        for run in range(args.runs):
            for latency_ms in args.latencies:
                tag = f"{latency_ms}-{run}"
                results[latency_ms].append(
                    measure(hsm, gateway, users, latency_ms=latency_ms, count=count, tag=tag)
                )
                print(f"run {run + 1} at {latency_ms} ms: {results[latency_ms][-1]}", flush=True)
        for latency_ms in args.latencies:
            hsm.set_faults(
                [{"match": ".*", "action": "delay", "latency_ms": latency_ms, "rate": 1.0}]
            )
            names = [f"pay-lat-{latency_ms}-{n}" for n in range(args.latency_samples)]
            waits[latency_ms] = latencies(submitted(users, names), users)
    print()
    report(results, waits, count)
    print(f"\nworker logs: {logs}")


if __name__ == "__main__":
    main()
