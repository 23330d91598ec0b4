"""Canonical JSON: keys sorted at every level, no whitespace, non-ASCII kept, no NaN/infinity.

The one serialization behind every hash Keywarden keeps: a request's payload hash (what
custodians approve is what runs) and the audit chain. Identical to
`json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def _fast_encode() -> Callable[[Any], str]:
    """`_ENCODER.encode` without rebuilding the C encoder on every call (json does): a third
    faster, which the audit verification loop feels. Falls back unless both agree on a sample."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return _ENCODER.encode
    encoder = make(
        None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )

    def encode(value: Any) -> str:
        return "".join(encoder(value, 0))

    sample = {"b": [1, 2.5, None, True, "ü\n"], "a": {"z": "", "y": -0.5}, "c": 10**20}
    try:
        return encode if encode(sample) == _ENCODER.encode(sample) else _ENCODER.encode
    except TypeError:
        return _ENCODER.encode


_encode = _fast_encode()


def canonical_json(value: Any) -> str:
    """`value` serialized in the canonical form. Raises ValueError for NaN or infinity."""
    return _encode(value)


def canonical_bytes(value: Any) -> bytes:
    """The canonical form encoded as UTF-8: the bytes that get hashed."""
    return _encode(value).encode("utf-8")
