"""The trail verified against its signed checkpoints (table and file) and an expected head."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit import chain, checkpoints
from audit.chain_selectors import verify_chain
from audit.models import AuditCheckpoint, AuditEvent

# The rules `verify_trail` reports, by name (what `audit_verify` prints).
CHAIN_BROKEN = "chain_broken"
SIGNATURE_INVALID = "checkpoint_signature_invalid"
CHECKPOINT_MISSING = "checkpoint_missing"
CHECKPOINT_ROW_REMOVED = "checkpoint_row_removed"
CHECKPOINT_FILE_MISMATCH = "checkpoint_file_mismatch"
CHECKPOINT_FILE_MISSING = "checkpoint_file_missing"
TRAIL_TRUNCATED = "trail_truncated"
HEAD_BEHIND_CHECKPOINT = "head_behind_checkpoint"
CHECKPOINTED_EVENT_MISSING = "checkpointed_event_missing"
CHECKPOINT_HEAD_MISMATCH = "checkpoint_head_mismatch"
EXPECTED_HEAD_MISMATCH = "expected_head_mismatch"
_LOOKUP_BATCH = 10_000


@dataclass(frozen=True)
class Problem:
    """One broken rule of the trail (`rule`, one of the names above) and what was found."""

    rule: str
    detail: str


@dataclass(frozen=True)
class TrailReport:
    """The chain's report plus every problem found against checkpoints and an expected head."""

    chain: chain.ChainReport
    checkpoints_checked: int
    problems: tuple[Problem, ...]

    @property
    def valid(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.chain.as_dict(),
            "valid": self.valid,
            "checkpoints_checked": self.checkpoints_checked,
            "problems": [{"rule": p.rule, "detail": p.detail} for p in self.problems],
        }


def checkpoint_records() -> list[dict[str, Any]]:
    """Every stored checkpoint as a record (`checkpoints.FILE_FIELDS`, canonical time)."""
    rows = AuditCheckpoint.objects.order_by("number").values(*checkpoints.FILE_FIELDS)
    return [{**row, "signed_at": chain.format_timestamp(row["signed_at"])} for row in rows]


def verify_trail(
    *,
    public_key_for: checkpoints.PublicKeyLookup,
    file_path: str = "",
    expect_head: tuple[int, str] | None = None,
    chunk_size: int = 5000,
    on_progress: Callable[[int], None] | None = None,
    processes: int = 1,
) -> TrailReport:
    """`verify_chain`, then the chain against every checkpoint of the table and of the file at
    `file_path` ('' = none): signatures, gaps, removed rows, removed or re-hashed events; and
    against `expect_head` (sequence, hash) kept elsewhere. Checkpoints are read before the chain,
    so events appended meanwhile never look missing. `public_key_for` may raise KeyUnavailable.
    `processes`: see `verify_chain`."""
    table = checkpoint_records()
    report = verify_chain(chunk_size=chunk_size, on_progress=on_progress, processes=processes)
    problems = [] if report.valid else [_chain_problem(report.first_broken)]
    from_file = _file_records(file_path, table, problems)
    problems += _numbering_problems(table)
    verified = []
    lookup = _cached(public_key_for)
    for record in [*table, *from_file]:
        problem = checkpoints.signature_problem(record, lookup)
        if problem:
            problems.append(Problem(SIGNATURE_INVALID, f"checkpoint {record['number']}: {problem}"))
        else:
            verified.append(record)
    claims = [(f"checkpoint {r['number']}", r["head_sequence"], r["head_hash"]) for r in verified]
    problems += _coverage_problems(report, claims)
    if expect_head is not None:
        found = _coverage_problems(report, [("the expected head", *expect_head)])
        problems += [Problem(EXPECTED_HEAD_MISMATCH, problem.detail) for problem in found]
    return TrailReport(report, len(table) + len(from_file), tuple(problems))


def _chain_problem(broken: chain.ChainBreak) -> Problem:
    return Problem(CHAIN_BROKEN, f"event #{broken.sequence}: {broken.reason} ({broken.detail})")


def _cached(public_key_for: checkpoints.PublicKeyLookup) -> checkpoints.PublicKeyLookup:
    """One HSM read per key version in a verification (an unusable key is asked about once)."""
    known: dict[str, Any] = {}

    def lookup(key_id: str):
        if key_id not in known:
            try:
                known[key_id] = public_key_for(key_id)
            except checkpoints.KeyUnavailable as exc:
                known[key_id] = exc
        if isinstance(known[key_id], checkpoints.KeyUnavailable):
            raise known[key_id]
        return known[key_id]

    return lookup


def _file_records(file_path: str, table: list[dict], problems: list[Problem]) -> list[dict]:
    """The file's checkpoints missing from the table (each reported); mismatches reported."""
    if not file_path:
        return []
    if not Path(file_path).exists():
        if table:
            detail = f"{file_path} does not exist, but the table holds {len(table)} checkpoints"
            problems.append(Problem(CHECKPOINT_FILE_MISSING, detail))
        return []
    by_number = {record["number"]: record for record in table}
    missing = []
    for record in checkpoints.read_file(file_path):
        stored = by_number.get(record["number"])
        if stored is None:
            detail = f"checkpoint {record['number']} of {file_path} is not in the table"
            problems.append(Problem(CHECKPOINT_ROW_REMOVED, detail))
            missing.append(record)
        elif stored != {name: record[name] for name in checkpoints.FILE_FIELDS}:
            detail = f"checkpoint {record['number']} differs between {file_path} and the table"
            problems.append(Problem(CHECKPOINT_FILE_MISMATCH, detail))
    return missing


def _numbering_problems(table: list[dict]) -> list[Problem]:
    problems, expected = [], 1
    for record in table:
        if record["number"] != expected:
            detail = f"checkpoints {expected}..{record['number'] - 1} are missing from the table"
            problems.append(Problem(CHECKPOINT_MISSING, detail))
        expected = record["number"] + 1
    return problems


def _coverage_problems(
    report: chain.ChainReport, claims: Iterable[tuple[str, int, str]]
) -> list[Problem]:
    """Each claim `(who, sequence, hash)` says event #sequence has that hash and exists."""
    claims = list(claims)
    head = report.head_sequence or 0
    problems = []
    furthest = max(claims, key=lambda claim: claim[1], default=None)
    if furthest is not None and furthest[1] > head:
        who, sequence = furthest[0], furthest[1]
        if head == 0:
            detail = f"the table holds no events, but {who} covers events 1..{sequence}"
            problems.append(Problem(TRAIL_TRUNCATED, detail))
        else:
            detail = (
                f"the chain ends at event #{head}, but {who} covers #{sequence}: "
                f"events #{head + 1}..#{sequence} were removed"
            )
            problems.append(Problem(HEAD_BEHIND_CHECKPOINT, detail))
    stored = _hashes_of([sequence for _, sequence, _ in claims if sequence <= head])
    for who, sequence, expected_hash in claims:
        if sequence > head:
            continue
        if sequence not in stored:
            detail = f"event #{sequence}, covered by {who}, is missing"
            problems.append(Problem(CHECKPOINTED_EVENT_MISSING, detail))
        elif stored[sequence] != expected_hash:
            detail = (
                f"event #{sequence} has hash {stored[sequence]}, but {who} says {expected_hash}: "
                f"events up to #{sequence} were changed"
            )
            problems.append(Problem(CHECKPOINT_HEAD_MISMATCH, detail))
    return problems


def _hashes_of(sequences: list[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for start in range(0, len(sequences), _LOOKUP_BATCH):
        batch = sequences[start : start + _LOOKUP_BATCH]
        found.update(AuditEvent.objects.filter(sequence__in=batch).values_list("sequence", "hash"))
    return found
