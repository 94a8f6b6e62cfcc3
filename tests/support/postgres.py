"""A real PostgreSQL for the tests: `DATABASE_URL`'s server, or one started from pgserver.

One server per test session. A template database is migrated once; each test that needs
PostgreSQL gets its own clone (tens of milliseconds), dropped afterwards. No mock database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from adapters.postgres.migrate import migrate
from adapters.postgres.server import Database, database_url, start_embedded


def start_test_server(data_dir: Path) -> Database:
    url = os.environ.get("DATABASE_URL")
    if url:
        return Database(url=url)
    return start_embedded(data_dir, cleanup="stop")


def _name(label: str) -> str:
    clean = "".join(ch if ch.isalnum() else "_" for ch in label.lower())[:30]
    return f"t_{clean}_{uuid.uuid4().hex[:8]}"


def _drop(server: Database, name: str) -> None:
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def fresh_database(server: Database, label: str, template: str | None = None) -> Iterator[str]:
    """A new database: migrated from scratch, or cloned from an already migrated `template`."""
    name = _name(label)
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(statement)
    url = database_url(server.url, name)
    try:
        if template is None:
            migrate(url)
        yield url
    finally:
        _drop(server, name)


def database_name(url: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])
