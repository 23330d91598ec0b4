"""What a secure-key-release policy trusts and pins, judged against the org's settings: the
approved attestation authorities and the claim baseline (README "HSM posture"). Used by the
key.create lint at submission and by the posture rules over the keys the HSM holds.

A policy is `{"version": "1.0.0", "anyOf"|"allOf": [branch, ...]}`, a branch
`{"authority": "https://…", "allOf"|"anyOf": [{"claim": "…", "equals": …}, ...]}` (the grammar
itself is checked by `approvals.operations.policies.release_policy_errors`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.conf import settings

ATTESTATION_TYPE_CLAIM = "x-ms-attestation-type"
GROUPS = ("anyOf", "allOf")


def normalized_authority(url: Any) -> str:
    return str(url).strip().rstrip("/").lower()


def approved_authorities() -> frozenset[str]:
    return frozenset(normalized_authority(url) for url in settings.RELEASE_POLICY_AUTHORITIES)


def branches(policy: Any) -> Iterator[tuple[str, dict]]:
    """(JSON path, branch) of each branch of the top-level anyOf/allOf list."""
    if not isinstance(policy, dict):
        return
    for group in GROUPS:
        items = policy.get(group)
        for index, branch in enumerate(items if isinstance(items, list) else []):
            if isinstance(branch, dict):
                yield f"{group}.{index}", branch


def claims_of(branch: dict) -> list[str]:
    """The claim names a branch's conditions pin (nested lists included)."""
    found: list[str] = []
    for group in GROUPS:
        items = branch.get(group)
        for condition in items if isinstance(items, list) else []:
            if not isinstance(condition, dict):
                continue
            if isinstance(condition.get("claim"), str):
                found.append(condition["claim"])
            found += claims_of(condition)
    return found


def _claim_name(claim: str) -> str:
    """`x-ms-isolation-tee.x-ms-compliance-status` pins `x-ms-compliance-status`."""
    return claim.rsplit(".", 1)[-1].lower()


def unapproved_authorities(policy: Any) -> list[tuple[str, str]]:
    """(JSON path of the authority, the authority) for each branch naming one not approved."""
    approved = approved_authorities()
    return [
        (f"{where}.authority", str(branch.get("authority", "")))
        for where, branch in branches(policy)
        if normalized_authority(branch.get("authority", "")) not in approved
    ]


def unapproved_authority_message(authority: str) -> str:
    approved = sorted(settings.RELEASE_POLICY_AUTHORITIES)
    allowed = ", ".join(approved) if approved else "none is (set RELEASE_POLICY_AUTHORITIES)"
    return f"{authority or '(none)'} is not an approved attestation authority. Approved: {allowed}."


def baseline_warnings(policy: Any) -> list[str]:
    """What each branch misses of RELEASE_POLICY_BASELINE, one sentence per gap with its path."""
    warnings = []
    for where, branch in branches(policy):
        pinned = {_claim_name(claim) for claim in claims_of(branch)}
        for requirement in settings.RELEASE_POLICY_BASELINE:
            alternatives = [name.strip() for name in requirement.split("|") if name.strip()]
            if not pinned & {name.lower() for name in alternatives}:
                warnings.append(
                    f"{where}: pins no {' or '.join(alternatives)} claim "
                    "(weaker than the organisation's baseline)."
                )
    return warnings


def pins_only_attestation_type(policy: Any) -> list[str]:
    """JSON paths of branches pinning no claim beyond the attestation type (any TEE passes)."""
    return [
        where
        for where, branch in branches(policy)
        if not {_claim_name(claim) for claim in claims_of(branch)} - {ATTESTATION_TYPE_CLAIM}
    ]
