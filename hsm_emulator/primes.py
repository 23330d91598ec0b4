"""RSA keys with any odd public exponent, as the service makes them.

``cryptography`` only generates keys for e = 3 and 65537; for any other exponent the emulator draws
its own primes: random odd candidates of the exact size (top two bits set, so n has the full
length), a sieve by small primes, then Miller-Rabin with random bases, and gcd(e, p - 1) = 1. The
key itself is built from those numbers by ``cryptography`` (``RSAPrivateNumbers``), which checks it.
"""

from __future__ import annotations

import math
import secrets

from cryptography.hazmat.primitives.asymmetric import rsa

# FIPS 186-5 Table B.1 asks 5 rounds with random bases for the 1024-bit primes of RSA-2048 (4 for
# larger ones) to reach an error below 2**-100 for random candidates; 8 is well beyond that.
MILLER_RABIN_ROUNDS = 8
_SIEVE_LIMIT = 10_000


def _odd_primes_below(limit: int) -> tuple[int, ...]:
    flags = bytearray([1]) * limit
    flags[:3] = b"\x00\x00\x00"
    for n in range(2, math.isqrt(limit) + 1):
        if flags[n]:
            flags[n * n :: n] = bytes(len(range(n * n, limit, n)))
    return tuple(n for n in range(3, limit, 2) if flags[n])


_SMALL_PRIMES = _odd_primes_below(_SIEVE_LIMIT)


def is_probable_prime(candidate: int, rounds: int = MILLER_RABIN_ROUNDS) -> bool:
    """Miller-Rabin with ``rounds`` random bases (after trial division by the small primes)."""
    if candidate < 2:
        return False
    for prime in (2, *_SMALL_PRIMES):
        if candidate % prime == 0:
            return candidate == prime
    odd, twos = candidate - 1, 0
    while odd % 2 == 0:
        odd, twos = odd // 2, twos + 1
    for _ in range(rounds):
        witness = pow(2 + secrets.randbelow(candidate - 3), odd, candidate)
        if witness in (1, candidate - 1):
            continue
        for _ in range(twos - 1):
            witness = pow(witness, 2, candidate)
            if witness == candidate - 1:
                break
        else:
            return False
    return True


def _candidate(bits: int) -> int:
    return secrets.randbits(bits) | (0b11 << (bits - 2)) | 1


def _survivors(start: int, window: int) -> list[int]:
    """Offsets k < window for which start + 2k has no prime factor below the sieve limit."""
    alive = bytearray([1]) * window
    for prime in _SMALL_PRIMES:
        first = (-start % prime) * ((prime + 1) // 2) % prime  # start + 2k ≡ 0 (mod prime)
        alive[first::prime] = bytes(len(range(first, window, prime)))
    return [k for k in range(window) if alive[k]]


def random_prime(bits: int, public_exponent: int) -> int:
    """A random ``bits``-bit probable prime p (top two bits set) with gcd(e, p - 1) = 1."""
    while True:
        start = _candidate(bits)
        # The odd numbers after a random start, sieved at once; about one in 0.35 * bits is prime.
        for offset in _survivors(start, bits):
            number = start + 2 * offset
            if number.bit_length() != bits or math.gcd(public_exponent, number - 1) != 1:
                continue
            if is_probable_prime(number):
                return number


def generate_rsa_private_key(public_exponent: int, key_size: int) -> rsa.RSAPrivateKey:
    """An RSA key of exactly ``key_size`` bits for any odd exponent ≥ 3 (e < p, q)."""
    if public_exponent in (3, 65537):
        return rsa.generate_private_key(public_exponent, key_size)
    half = key_size // 2
    while True:
        p, q = random_prime(half, public_exponent), random_prime(half, public_exponent)
        # FIPS 186-5 A.1.3: p and q must not be close (|p - q| > 2^(nlen/2 - 100)).
        if abs(p - q) <= 1 << (half - 100) or (p * q).bit_length() != key_size:
            continue
        phi_lcm = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
        d = pow(public_exponent, -1, phi_lcm)
        public = rsa.RSAPublicNumbers(public_exponent, p * q)
        numbers = rsa.RSAPrivateNumbers(
            p=p,
            q=q,
            d=d,
            dmp1=rsa.rsa_crt_dmp1(d, p),
            dmq1=rsa.rsa_crt_dmq1(d, q),
            iqmp=rsa.rsa_crt_iqmp(p, q),
            public_numbers=public,
        )
        return numbers.private_key()
