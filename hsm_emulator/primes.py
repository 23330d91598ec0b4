"""RSA keys with any odd public exponent, as the service makes them.

``cryptography`` only generates keys for e = 3 and 65537. For any other odd exponent the emulator
takes the primes of keys OpenSSL generates for 65537 (random primes of half the size, top bits set
so that n has its full length, |p - q| large as FIPS 186-5 asks), keeps those with
gcd(e, p - 1) = 1, and builds the key from two of them with its own d = e^-1 mod lcm(p-1, q-1)
through ``RSAPrivateNumbers``, which checks the numbers. Pure-Python prime search (Miller-Rabin
over sieved candidates) took 19 s (median) for 4096 bits here, OpenSSL's primes take well under 1.
"""

from __future__ import annotations

import math

from cryptography.hazmat.primitives.asymmetric import rsa

LIBRARY_EXPONENTS = (3, 65537)
MAX_ATTEMPTS = 200  # keys to draw primes from; e = 3·5·7·…·97 needs about 7 on average


def _usable_primes(key_size: int, public_exponent: int) -> list[int]:
    numbers = rsa.generate_private_key(65537, key_size).private_numbers()
    return [p for p in (numbers.p, numbers.q) if math.gcd(public_exponent, p - 1) == 1]


def generate_rsa_private_key(public_exponent: int, key_size: int) -> rsa.RSAPrivateKey:
    """An RSA key of exactly ``key_size`` bits for any odd exponent ≥ 3 smaller than its primes;
    ValueError when the exponent is even or below 3."""
    if public_exponent < 3 or public_exponent % 2 == 0:
        raise ValueError(f"the public exponent must be odd and at least 3, not {public_exponent}")
    if public_exponent in LIBRARY_EXPONENTS:
        return rsa.generate_private_key(public_exponent, key_size)
    half = key_size // 2
    primes: list[int] = []
    for _ in range(MAX_ATTEMPTS):
        primes.extend(_usable_primes(key_size, public_exponent))
        for p in primes:
            for q in primes:
                # FIPS 186-5 A.1.3: p and q must not be close (|p - q| > 2^(nlen/2 - 100)).
                if abs(p - q) > 1 << (half - 100) and (p * q).bit_length() == key_size:
                    return _key(p, q, public_exponent)
    raise ValueError(f"no primes with gcd({public_exponent}, p - 1) = 1 in {MAX_ATTEMPTS} keys")


def _key(p: int, q: int, public_exponent: int) -> rsa.RSAPrivateKey:
    lcm = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
    d = pow(public_exponent, -1, lcm)
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(public_exponent, p * q),
    )
    return numbers.private_key()
