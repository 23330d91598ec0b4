"""Which database and broker the suite runs on, shown in pytest's header and enforced in CI."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings
from django.db import connections


def _database_line() -> tuple[bool, str]:
    db = settings.DATABASES["default"]
    if connections["default"].vendor != "postgresql":  # Keywarden's backend wraps Django's
        return False, f"database: {db['ENGINE']} {db['NAME']}"
    import psycopg

    try:
        with psycopg.connect(
            host=db["HOST"] or None,
            port=db["PORT"] or None,
            user=db["USER"] or None,
            password=db["PASSWORD"] or None,
            dbname="postgres",
            connect_timeout=3,
        ) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
    except psycopg.Error as exc:
        return False, f"database: PostgreSQL at {db['HOST']}:{db['PORT']} UNREACHABLE ({exc})"
    return (
        True,
        f"database: PostgreSQL {version} at {db['HOST']}:{db['PORT']} (test db test_{db['NAME']})",
    )


def _broker_line() -> tuple[bool, str]:
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return False, f"broker: {url} (embedded)"
    try:
        info = redis.Redis.from_url(url, socket_connect_timeout=3).info("server")
    except redis.RedisError as exc:
        return False, f"broker: Redis at {url} UNREACHABLE ({exc})"
    return (
        True,
        f"broker: Redis {info['redis_version']} at {url}, "
        f"queue {settings.CELERY_TASK_DEFAULT_QUEUE}",
    )


def describe_services() -> list[str]:
    return [_database_line()[1], _broker_line()[1]]


def require_real_services() -> None:
    """Stop the whole run unless PostgreSQL and Redis are configured and reachable."""
    problems = [line for ok, line in (_database_line(), _broker_line()) if not ok]
    if problems:
        pytest.exit(
            "KEYWARDEN_REQUIRE_SERVICES=1 but the suite would not use PostgreSQL and Redis: "
            + "; ".join(problems),
            returncode=3,
        )
