"""Which HSM reads one key needs in a sync: the fewest calls that still give the row a complete
read (key, every version, rotation policy) would give.

Every write that changes what a key get returns moves the current version's `updated`: a PATCH
of its properties (operations, enabled, dates, tags) or a new current version (rotate, create,
import, restore). So a listing item equal to the one last read, read at least a second after its
`updated` (HSM times have one-second precision), means type, size, curve, operations and the
current version are as stored. Two things never show in the listing: the rotation policy and
the properties of older versions. An incremental sync keeps them as stored; a full sync re-reads
them (every key's policy; the versions of keys that have more than one).

A key the inventory does not know needs all three reads: neither the listing nor one get shows
its type and operations, whether older versions exist, or its policy — they come from three
different calls of the Managed HSM API, which has no call that returns them together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from keys.gateway import KeyVersionInfo
from keys.models import KeyState
from keys.services.mirror import LISTED_FIELDS

ONE_SECOND = timedelta(seconds=1)
# The stored columns `plan_reads` looks at (`ManagedKey.objects.values(*STORED_FIELDS)`).
STORED_FIELDS = (
    "name",
    *LISTED_FIELDS,
    "state",
    "kty",
    "observed_at",
    "current_version",
    "version_count",
)


@dataclass(frozen=True)
class ReadPlan:
    """`key`: get the current version with its material; `versions`: list every version (also
    read when the get shows another current version); `policy`: get the rotation policy."""

    key: bool
    versions: bool
    policy: bool

    @property
    def reads_anything(self) -> bool:
        return self.key or self.versions or self.policy


EVERYTHING = ReadPlan(key=True, versions=True, policy=True)


def is_known(row: dict | None) -> bool:
    """The inventory holds a complete reading of this live key."""
    return bool(row and row["state"] == KeyState.ACTIVE and row["kty"] and row["observed_at"])


def is_unchanged(row: dict, listing: KeyVersionInfo) -> bool:
    """Same listing as last read, and that reading came at least a second after the last change
    (a change in the same second as the reading would look identical)."""
    settled = listing.updated_on and row["observed_at"] >= listing.updated_on + ONE_SECOND
    return bool(settled) and all(row[name] == getattr(listing, name) for name in LISTED_FIELDS)


def plan_reads(row: dict | None, listing: KeyVersionInfo, *, full: bool) -> ReadPlan:
    """What to read of the key `listing` shows, given its stored `row` (STORED_FIELDS)."""
    if not is_known(row):
        return EVERYTHING
    older_versions = full and row["version_count"] > 1
    return ReadPlan(key=not is_unchanged(row, listing), versions=older_versions, policy=full)
