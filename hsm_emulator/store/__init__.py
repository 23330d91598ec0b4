"""The emulator's persistent state: one SQLite database plus the master key in the data dir."""

from __future__ import annotations

from pathlib import Path

from hsm_emulator.sealing import Sealer
from hsm_emulator.store.admin import AdminStore
from hsm_emulator.store.db import Database
from hsm_emulator.store.keys import KeyStore
from hsm_emulator.store.models import DeletedKey, KeyVersion, RoleAssignment, VersionSpec
from hsm_emulator.store.roles import RoleStore


class Store:
    """Facade over the data dir: ``keys``, ``roles`` and ``admin`` share one database."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.sealer = Sealer.from_data_dir(data_dir)
        self.db = Database(data_dir / "hsm.sqlite3")
        self.keys = KeyStore(self.db, self.sealer)
        self.roles = RoleStore(self.db)
        self.admin = AdminStore(self.db)

    def close(self) -> None:
        """Close every database connection."""
        self.db.close()


__all__ = ["DeletedKey", "KeyVersion", "RoleAssignment", "Store", "VersionSpec"]
