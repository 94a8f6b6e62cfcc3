"""The `payments` command: the batch and operator entry point.

payments migrate        apply the SQL migrations (DATABASE_URL, or the embedded server)
payments demo           a payment and a four-eyes withdrawal through the core, with its ledger
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from adapters.postgres.migrate import migrate
from adapters.postgres.server import open_database
from entrypoints.demo import run_demo


def _migrate() -> int:
    database = open_database()
    try:
        applied = migrate(database.url)
    finally:
        if database.server is not None:
            database.server.cleanup()
    where = "the embedded PostgreSQL" if database.embedded else "DATABASE_URL"
    print(f"migrations applied to {where}: {', '.join(applied) if applied else 'none (up to date)'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="payments", description="payments-core")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply the database migrations")
    demo = commands.add_parser("demo", help="take a payment, withdraw under four-eyes, print the ledger")
    demo.add_argument("--memory", action="store_true", help="keep everything in memory, no database")
    args = parser.parse_args(argv)
    if args.command == "migrate":
        return _migrate()
    return run_demo(sys.stdout, in_memory=args.memory)


if __name__ == "__main__":
    raise SystemExit(main())
