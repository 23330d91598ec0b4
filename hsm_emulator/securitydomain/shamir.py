"""Shamir M-of-N secret sharing over GF(257), byte by byte, in the security domain's encoding.

Each byte of the secret is the constant term of a random polynomial of degree M-1 over the prime
field of 257 elements; holder ``x`` (1..N) gets f(x) for every byte. A share is the sequence of
16-bit little-endian words ``(x << 9) | f(x)`` (f(x) needs 9 bits, x the top 7), which is how
Microsoft's tooling reads the shares it unwraps from a downloaded security domain. Any M shares
give the secret back by Lagrange interpolation at 0; fewer give nothing about it.
"""

from __future__ import annotations

import secrets

PRIME = 257
MAX_SHARES = 126  # x must fit the top 7 bits of a share word


def split(secret: bytes, *, shares: int, required: int) -> list[bytes]:
    """``shares`` shares of ``secret``, any ``required`` of which recover it."""
    if not 1 <= required <= shares <= MAX_SHARES:
        raise ValueError(f"need 1 <= required <= shares <= {MAX_SHARES}")
    words: list[list[int]] = [[] for _ in range(shares)]
    for byte in secret:
        coefficients = [byte] + [secrets.randbelow(PRIME) for _ in range(required - 1)]
        for index, holder in enumerate(words):
            x = index + 1
            value = 0
            for coefficient in reversed(coefficients):  # Horner: f(x) mod 257
                value = (value * x + coefficient) % PRIME
            holder.append((x << 9) | value)
    return [b"".join(word.to_bytes(2, "little") for word in holder) for holder in words]
