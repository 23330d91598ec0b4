"""Atomic file writes for everything the emulator keeps next to its database."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write via a temp file in the same directory and rename, so readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_private(path: Path, data: bytes) -> None:
    """Atomic write readable by the owner only (0600): private keys, the master key."""
    write_atomic(path, data, mode=0o600)


def read_or_create_secret(path: Path, size: int) -> bytes:
    """Return the secret in ``path``, creating it (0600) with random bytes if absent.

    The new file is written aside and hard-linked into place, which fails if another process won
    the race; either way every caller ends up with the one secret on disk, never a partial file.
    """
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(os.urandom(size))
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    secret = path.read_bytes()
    if len(secret) != size:
        raise RuntimeError(f"{path} is corrupt: expected {size} bytes")
    return secret
