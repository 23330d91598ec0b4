"""Custom role definitions and role assignments (built-in definitions live in code, in rbac.py)."""

from __future__ import annotations

import json
from typing import Any

from hsm_emulator.errors import bad_parameter, conflict
from hsm_emulator.store.db import Database
from hsm_emulator.store.models import RoleAssignment


def _assignment(row: Any) -> RoleAssignment:
    return RoleAssignment(row["name"], row["scope"], row["role_definition_id"], row["principal_id"])


class RoleStore:
    """Persistence of local RBAC objects; uniqueness rules are checked inside the transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def custom_definitions(self) -> list[dict[str, Any]]:
        """All custom role definition documents, ordered by name."""
        with self._db.read() as conn:
            rows = conn.execute("SELECT document FROM role_definitions ORDER BY name").fetchall()
        return [json.loads(row["document"]) for row in rows]

    def custom_definition(self, name: str) -> dict[str, Any] | None:
        """One custom role definition document, or None."""
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT document FROM role_definitions WHERE name = ?", (name,)
            ).fetchone()
        return json.loads(row["document"]) if row else None

    def put_definition(self, document: dict[str, Any]) -> dict[str, Any]:
        """Create or replace a custom definition; 409 if another one already has its roleName."""
        role_name = document["properties"]["roleName"]
        with self._db.write() as conn:
            for row in conn.execute(
                "SELECT name, document FROM role_definitions WHERE name != ?", (document["name"],)
            ):
                other = json.loads(row["document"])["properties"]["roleName"]
                if role_name and other.lower() == role_name.lower():
                    raise conflict(
                        f"A role definition named '{role_name}' already exists ({row['name']}).",
                        inner="RoleDefinitionWithSameNameExists",
                    )
            conn.execute(
                "INSERT OR REPLACE INTO role_definitions (name, document) VALUES (?, ?)",
                (document["name"], json.dumps(document)),
            )
        return document

    def delete_definition(self, name: str) -> dict[str, Any] | None:
        """Delete a custom definition (None if absent); 400 while assignments still use it."""
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT document FROM role_definitions WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                return None
            document = json.loads(row["document"])
            in_use = conn.execute(
                "SELECT COUNT(*) FROM role_assignments WHERE role_definition_id = ?",
                (document["id"],),
            ).fetchone()[0]
            if in_use:
                raise bad_parameter(
                    f"Role definition {name} is used by {in_use} role assignment(s); "
                    "delete them first.",
                    inner="RoleDefinitionHasAssignments",
                )
            conn.execute("DELETE FROM role_definitions WHERE name = ?", (name,))
        return document

    def assignments(
        self, *, scopes: tuple[str, ...] | None = None, principal: str | None = None
    ) -> list[RoleAssignment]:
        """Assignments at any of ``scopes`` (all when None), optionally for one principal."""
        sql, args = "SELECT * FROM role_assignments WHERE 1 = 1", []
        if scopes is not None:
            sql += f" AND scope IN ({', '.join('?' for _ in scopes)})"
            args.extend(scopes)
        if principal is not None:
            sql += " AND principal_id = ?"
            args.append(principal)
        with self._db.read() as conn:
            rows = conn.execute(sql + " ORDER BY name", args).fetchall()
        return [_assignment(row) for row in rows]

    def assignment(self, name: str) -> RoleAssignment | None:
        """One assignment by name, or None."""
        with self._db.read() as conn:
            row = conn.execute("SELECT * FROM role_assignments WHERE name = ?", (name,)).fetchone()
        return _assignment(row) if row else None

    def put_assignment(self, new: RoleAssignment) -> RoleAssignment:
        """Create an assignment; repeating an identical PUT is fine, anything else is 409."""
        with self._db.write() as conn:
            existing = conn.execute(
                "SELECT * FROM role_assignments WHERE name = ?", (new.name,)
            ).fetchone()
            if existing is not None:
                if _assignment(existing) == new:
                    return new
                raise conflict(
                    f"Role assignment {new.name} already exists with other properties.",
                    inner="RoleAssignmentExists",
                )
            duplicate = conn.execute(
                "SELECT name FROM role_assignments WHERE scope = ? AND role_definition_id = ? "
                "AND principal_id = ?",
                (new.scope, new.role_definition_id, new.principal_id),
            ).fetchone()
            if duplicate is not None:
                raise conflict(
                    f"The role assignment already exists as {duplicate['name']}.",
                    inner="RoleAssignmentExists",
                )
            conn.execute(
                "INSERT INTO role_assignments (name, scope, role_definition_id, principal_id) "
                "VALUES (?, ?, ?, ?)",
                (new.name, new.scope, new.role_definition_id, new.principal_id),
            )
        return new

    def delete_assignment(self, name: str, scope: str) -> RoleAssignment | None:
        """Delete the assignment ``name`` at ``scope``; None when there is none."""
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT * FROM role_assignments WHERE name = ? AND scope = ?", (name, scope)
            ).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM role_assignments WHERE name = ?", (name,))
        return _assignment(row)

    def ensure_assignments(self, assignments: list[RoleAssignment]) -> None:
        """Insert assignments that are missing (initial administrators at every start)."""
        with self._db.write() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO role_assignments "
                "(name, scope, role_definition_id, principal_id) VALUES (?, ?, ?, ?)",
                [(a.name, a.scope, a.role_definition_id, a.principal_id) for a in assignments],
            )
