"""The chaos run's one table, its evidence, and the exit status."""

from __future__ import annotations

from bench.common import print_table

HEADERS = (
    "scenario",
    "requests",
    "succeeded",
    "failed",
    "lost",
    "duplicates",
    "failed-but-applied",
    "fenced-writes",
    "terminal-events-ok",
    "chain-ok",
    "seconds",
)
MAX_PROBLEMS = 15  # evidence lines printed per scenario


def row(name: str, verdict, seconds: float) -> tuple:
    return (
        name,
        verdict.requests,
        verdict.succeeded,
        verdict.failed,
        verdict.lost,
        verdict.duplicates,
        verdict.phantoms,
        verdict.fenced_writes,
        "yes" if not verdict.terminal_events_bad else f"no ({verdict.terminal_events_bad})",
        "yes" if verdict.chain_ok else "no",
        f"{seconds:.1f}",
    )


def report(results: list[tuple], *, stack, workdir) -> int:
    """Print the table, then what happened and every broken invariant; 1 if any broke."""
    from django.conf import settings

    print(
        f"\nlease {settings.EXECUTION_LEASE_SECONDS} s, HSM timeout "
        f"{settings.HSM_TIMEOUT_SECONDS} s, settle {settings.HSM_SETTLE_SECONDS} s, "
        f"re-dispatch after {settings.REDISPATCH_AFTER_SECONDS} s, sweep every "
        f"{stack.sweep_seconds:.0f} s ({stack.sweeps['sent']} sent, "
        f"{stack.sweeps['missed']} missed while the broker was down)\n"
    )
    print_table(HEADERS, [row(name, verdict, seconds) for name, verdict, seconds, _ in results])
    for name, verdict, _, notes in results:
        lines = [*notes, *verdict.problems[:MAX_PROBLEMS]]
        if len(verdict.problems) > MAX_PROBLEMS:
            lines.append(f"… {len(verdict.problems) - MAX_PROBLEMS} more")
        if lines:
            print(f"\n{name}:")
            print("\n".join(f"  {line}" for line in lines))
    print(f"\nlogs: {workdir}")
    broken = [name for name, verdict, _, _ in results if not verdict.ok]
    if broken:
        print(f"INVARIANTS BROKEN in: {', '.join(broken)}")
        return 1
    return 0
