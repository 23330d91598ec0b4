"""compliance_of: the ROTATION.md §2 table, hand-computed (a pure function: no database)."""

from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from keys.compliance import Compliance, compliance_of, in_words
from keys.models import ManagedKey, RotationStandard

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
STANDARD = RotationStandard(key_class="standard", max_age="P2Y", warn_before="P30D")
ACTIVE = RotationStandard(key_class="active", max_age="P90D", warn_before="P30D")
# A team's override of `active`: 60 days, warned two weeks ahead.
TEAM_ACTIVE = RotationStandard(key_class="active", max_age="P60D", warn_before="P14D")
ROTATE_AFTER_30D = {"lifetime_actions": [{"action": "Rotate", "time_after_create": "P30D"}]}
ROTATE_AFTER_60D = {"lifetime_actions": [{"action": "Rotate", "time_after_create": "P60D"}]}
ROTATE_BEFORE_EXPIRY = {
    "lifetime_actions": [{"action": "rotate", "time_before_expiry": "P7D"}],
    "expiry_time": "P60D",
}


def at(month: int, day: int, year: int = 2026) -> datetime:
    return datetime(year, month, day, 12, tzinfo=timezone.utc)


@dataclass
class PlannedSchedule:
    next_run_on: datetime | None


def key(created=None, *, state="active", enabled=True, applied=None, expires=None, policy=None):
    return ManagedKey(
        name="pay-k",
        state=state,
        enabled=enabled,
        last_applied={} if applied is None else applied,
        current_version_created_on=created,
        expires_on=expires,
        rotation_policy=policy,
    )


@pytest.mark.parametrize(
    ("_case", "row", "standard", "schedule", "expected"),
    [
        (
            "deleted",
            key(at(5, 22), state="deleted"),
            STANDARD,
            None,
            Compliance("not_applicable", None, "none", "The key is deleted."),
        ),
        (
            "purged",
            key(at(5, 22), state="purged"),
            STANDARD,
            None,
            Compliance("not_applicable", None, "none", "The key is purged."),
        ),
        (
            "disabled through Keywarden",
            key(at(2, 26), enabled=False, applied={"enabled": False}),
            ACTIVE,
            None,
            Compliance("not_applicable", None, "none", "The key is disabled."),
        ),
        (
            "disabled behind Keywarden's back: still judged",
            key(at(5, 22), enabled=False, applied={"enabled": True}),
            STANDARD,
            None,
            Compliance(
                "no_rotation",
                at(5, 22, 2028),
                "none",
                "Nothing rotates it (no HSM Rotate action, no schedule); due on 2028-05-22. "
                "Current version is 10 days old; the standard class allows 2 years.",
            ),
        ),
        (
            "expired",
            key(at(2, 21), expires=at(5, 31)),
            STANDARD,
            None,
            Compliance("expired", at(2, 21, 2028), "none", "Expired on 2026-05-31."),
        ),
        (
            "overdue, active class, no policy: 95 days old",
            key(at(2, 26)),
            ACTIVE,
            None,
            Compliance(
                "overdue",
                at(5, 27),
                "none",
                "Current version is 95 days old; the active class allows 90 days.",
            ),
        ),
        (
            "overdue, standard class: 800 days old",
            key(at(3, 23, 2024)),
            STANDARD,
            None,
            Compliance(
                "overdue",
                at(3, 23),
                "none",
                "Current version is 800 days old; the standard class allows 2 years.",
            ),
        ),
        (
            "overdue: the HSM policy's rotation did not happen",
            key(at(4, 22), policy=ROTATE_AFTER_30D),
            ACTIVE,
            None,
            Compliance(
                "overdue", at(5, 22), "hsm_policy", "The HSM policy was to rotate it on 2026-05-22."
            ),
        ),
        (
            "expiring soon, before the rotation is due",
            key(at(2, 21), expires=at(6, 11)),
            STANDARD,
            None,
            Compliance(
                "expiring_soon",
                at(2, 21, 2028),
                "none",
                "Expires on 2026-06-11, before its rotation is due (2028-02-21).",
            ),
        ),
        (
            "expiry within the warning but after the due date: due soon",
            key(at(3, 23), expires=at(6, 26)),
            ACTIVE,
            None,
            Compliance(
                "due_soon",
                at(6, 21),
                "none",
                "Due on 2026-06-21. Current version is 70 days old; the active class allows "
                "90 days.",
            ),
        ),
        (
            "due soon by the HSM policy, standard class",
            key(at(5, 22), policy=ROTATE_AFTER_30D),
            STANDARD,
            None,
            Compliance(
                "due_soon",
                at(6, 21),
                "hsm_policy",
                "Due on 2026-06-21. Current version is 10 days old; the standard class allows "
                "2 years.",
            ),
        ),
        (
            "compliant: the HSM policy rotates before the class limit",
            key(at(5, 22), policy=ROTATE_AFTER_60D),
            ACTIVE,
            None,
            Compliance(
                "compliant", at(7, 21), "hsm_policy", "The HSM policy rotates it on 2026-07-21."
            ),
        ),
        (
            "compliant: rotated before expiry by the HSM policy",
            key(at(5, 22), expires=at(7, 31), policy=ROTATE_BEFORE_EXPIRY),
            ACTIVE,
            None,
            Compliance(
                "compliant", at(7, 24), "hsm_policy", "The HSM policy rotates it on 2026-07-24."
            ),
        ),
        (
            "no rotation: a before-expiry trigger without an expiry never fires",
            key(at(5, 22), policy=ROTATE_BEFORE_EXPIRY),
            ACTIVE,
            None,
            Compliance(
                "no_rotation",
                at(8, 20),
                "none",
                "Nothing rotates it (no HSM Rotate action, no schedule); due on 2026-08-20. "
                "Current version is 10 days old; the active class allows 90 days.",
            ),
        ),
        (
            "no rotation under the active class: 50 days old",
            key(at(4, 12)),
            ACTIVE,
            None,
            Compliance(
                "no_rotation",
                at(7, 11),
                "none",
                "Nothing rotates it (no HSM Rotate action, no schedule); due on 2026-07-11. "
                "Current version is 50 days old; the active class allows 90 days.",
            ),
        ),
        (
            "the same key under its team's 60-day override: due soon",
            key(at(4, 12)),
            TEAM_ACTIVE,
            None,
            Compliance(
                "due_soon",
                at(6, 11),
                "none",
                "Due on 2026-06-11. Current version is 50 days old; the active class allows "
                "60 days.",
            ),
        ),
        (
            "compliant: a schedule runs before the class limit",
            key(at(5, 22)),
            ACTIVE,
            PlannedSchedule(at(7, 11)),
            Compliance(
                "compliant", at(7, 11), "schedule", "The schedule rotates it on 2026-07-11."
            ),
        ),
        (
            "the earlier of the HSM policy and the schedule rotates it",
            key(at(5, 22), policy=ROTATE_AFTER_60D),
            STANDARD,
            PlannedSchedule(at(6, 16)),
            Compliance(
                "due_soon",
                at(6, 16),
                "schedule",
                "Due on 2026-06-16. Current version is 10 days old; the standard class allows "
                "2 years.",
            ),
        ),
    ],
)
def test_compliance_of_follows_the_rotation_table(_case, row, standard, schedule, expected):
    assert compliance_of(row, standard, schedule, NOW) == expected


@pytest.mark.parametrize(
    ("_case", "text", "expected"),
    [
        ("days", "P90D", "90 days"),
        ("one year", "P1Y", "1 year"),
        ("years and months", "P2Y6M", "2 years 6 months"),
        ("weeks count as days", "P2W", "14 days"),
        ("hours", "PT12H", "12 hours"),
    ],
)
def test_durations_read_in_words(_case, text, expected):
    assert in_words(text) == expected
