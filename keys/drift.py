"""Pure functions: what Keywarden applied vs what the HSM shows (when a key is due:
`keys.compliance`).

A *snapshot* is the comparable part of a key's state as a JSON-safe dict; `last_applied` on
ManagedKey stores the snapshot of what Keywarden last set.
"""

from __future__ import annotations

from datetime import datetime

COMPARED_FIELDS = ("enabled", "key_ops", "tags", "not_before", "expires_on", "rotation_policy")


def _iso(value: datetime | None) -> str | None:
    return value.replace(microsecond=0).isoformat() if value else None


def snapshot(
    *,
    state: str,
    enabled: bool,
    key_ops,
    tags: dict,
    not_before: datetime | None,
    expires_on: datetime | None,
    current_version: str,
    rotation_policy: dict | None,
) -> dict:
    """The comparable state of one key (order-insensitive key_ops, second-precision times)."""
    return {
        "state": state,
        "enabled": bool(enabled),
        "key_ops": sorted(key_ops or []),
        "tags": dict(sorted((tags or {}).items())),
        "not_before": _iso(not_before),
        "expires_on": _iso(expires_on),
        "current_version": current_version,
        "rotation_policy": rotation_policy,
    }


def rotates_automatically(policy: dict | None) -> bool:
    actions = (policy or {}).get("lifetime_actions") or []
    return any(str(a.get("action", "")).lower() == "rotate" for a in actions)


def reconcile(observed: dict, applied: dict | None) -> tuple[list[str], dict | None]:
    """Drift reasons for `observed` against `applied`, and the baseline to keep.

    A new version made by the HSM's own rotation policy is expected, not drift: the baseline
    then moves to the new version (and the expiry the policy gave it)."""
    if applied is None:
        return ["Created outside Keywarden (unmanaged key)."], None
    if observed["state"] != applied.get("state"):
        return [
            f"Key {observed['state']} outside Keywarden (expected {applied.get('state')})."
        ], applied
    if observed["state"] != "active":
        return [], applied
    baseline = dict(applied)
    reasons = []
    if observed["current_version"] != applied.get("current_version"):
        if rotates_automatically(applied.get("rotation_policy")):
            baseline.update(
                current_version=observed["current_version"],
                expires_on=observed["expires_on"],
                not_before=observed["not_before"],
            )
        else:
            reasons.append(
                f"Rotated outside Keywarden: version {applied.get('current_version') or '-'} "
                f"→ {observed['current_version']}."
            )
    for field in COMPARED_FIELDS:
        if observed[field] != baseline.get(field):
            reasons.append(
                f"{field} changed outside Keywarden: {baseline.get(field)!r} → {observed[field]!r}."
            )
    return reasons, baseline
