"""What every benchmark needs: a fresh, migrated database of its own, and a result table."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/keywarden_bench"


def prepare_environment(url: str, **extra_env: str) -> None:
    """Point Django at the bench database (dropped and created fresh, migrated) before anything
    imports settings. The name must contain "bench", so a real database is never touched."""
    name = urlsplit(url).path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"refusing to use database {name!r}: the bench database name must contain 'bench'")
    os.environ.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="portal.settings",
        DEBUG="false",  # DEBUG keeps every query in memory
        SECRET_KEY="bench-only-secret-key-not-for-production-0123456789abcdef",
        KEYWARDEN_DATA_DIR=str(ROOT / "var" / "bench"),
        **extra_env,
    )
    import psycopg

    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def print_table(headers: tuple[str, ...], rows: list[tuple]) -> None:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]
    line = " | ".join(f"{{:>{w}}}" for w in widths)
    print(line.format(*headers))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(line.format(*row))


class StatementCounter:
    """`with StatementCounter() as counted:` counts the SQL statements the default database
    connection runs inside the block (`counted.statements`)."""

    def __init__(self) -> None:
        self.statements = 0
        self._wrapper = None

    def _count(self, execute, sql, params, many, context):
        self.statements += 1
        return execute(sql, params, many, context)

    def __enter__(self) -> StatementCounter:
        from django.db import connection

        self._wrapper = connection.execute_wrapper(self._count)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._wrapper.__exit__(*exc)
