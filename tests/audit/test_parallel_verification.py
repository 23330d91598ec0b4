"""Full verification in several processes: contiguous ranges joined at their boundaries give the
one-process walk's report, on a valid chain and on each kind of break near a boundary."""

from __future__ import annotations

import pytest
from django.db import transaction

from audit import chain
from audit.actions import Action
from audit.chain_selectors import verify_chain
from audit.context import AuditContext
from audit.selectors import chain_head
from audit.services import EventSpec, record_events, seal_events
from audit.targets import Target

EVENTS = 300
# Three ranges of 100: (0, 100], (100, 200], (200, 300].
PARALLEL = {"processes": 3, "min_range": 100}

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chain_of_300():
    specs = [
        EventSpec(Action.TEAM_UPDATED, Target("test.thing", str(n), f"thing {n}"), after={"n": n})
        for n in range(1, EVENTS + 1)
    ]
    with transaction.atomic():
        record_events(AuditContext.system("test"), specs)
    seal_events()  # the writer's after-commit sealer has usually sealed them already
    assert chain_head()[0] == EVENTS


def test_a_valid_chain_verifies_the_same_in_three_processes(chain_of_300):
    alone = verify_chain()
    heard = []
    parallel = verify_chain(**PARALLEL, on_progress=heard.append)
    assert alone.valid and alone.events_checked == EVENTS
    assert parallel.as_dict() == alone.as_dict()
    assert heard == [100, 100, 100]  # one report per range: three processes did the walk


def test_a_short_chain_is_not_split(chain_of_300):
    heard = []
    report = verify_chain(processes=3, min_range=EVENTS, on_progress=heard.append, chunk_size=50)
    assert report.valid and report.events_checked == EVENTS
    assert heard == [50] * 6  # per chunk: the one-process walk


@pytest.mark.parametrize(
    ("sql", "broken_at", "reason"),
    [
        # the last event of the first range: its content no longer matches its stored hash
        (
            "UPDATE audit_auditevent SET actor_label = 'mallory' WHERE sequence = 100",
            100,
            chain.HASH_MISMATCH,
        ),
        # the first event of the second range no longer links to the one before the cut
        (
            "UPDATE audit_auditevent SET prev_hash = repeat('0', 64) WHERE sequence = 101",
            101,
            chain.BROKEN_LINK,
        ),
        # the cut event itself removed
        ("DELETE FROM audit_auditevent WHERE sequence = 200", 200, chain.GAP),
        # the end of a range removed: the walk finds the gap where the next range begins
        ("DELETE FROM audit_auditevent WHERE sequence IN (199, 200)", 199, chain.GAP),
        # a re-hashed event in the third range (and every link after it is then wrong)
        (
            "UPDATE audit_auditevent SET hash = repeat('a', 64) WHERE sequence = 250",
            250,
            chain.HASH_MISMATCH,
        ),
    ],
    ids=[
        "content-at-cut",
        "link-after-cut",
        "cut-event-deleted",
        "range-end-deleted",
        "rehashed-in-last-range",
    ],
)
def test_a_break_near_a_boundary_is_the_one_the_single_walk_reports(
    chain_of_300, tamper, sql, broken_at, reason
):
    tamper(sql)
    alone = verify_chain()
    parallel = verify_chain(**PARALLEL)
    assert (alone.first_broken.sequence, alone.first_broken.reason) == (broken_at, reason)
    assert (parallel.first_broken.sequence, parallel.first_broken.reason) == (broken_at, reason)
