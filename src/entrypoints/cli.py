"""The `payments` command: the server, the operator's tools and the batch jobs.

payments serve [--host H] [--port P] [--demo] [--no-worker]
                                  the HTTP API (migrating the database first), with the webhook
                                  deliveries and the janitor in-process unless `--no-worker`;
                                  `--demo` also makes the demo tenant and prints ready-to-paste
                                  credentials (`make run`)
payments tenant create NAME [--currency KES] [--rate-limit-scale N]
                                  a tenant; prints one JSON object with tenant_id and api_key
payments token --tenant T --user U [--scope S ...] [--mfa] [--live] [--ttl-minutes M]
                                  a bearer JWT for a user, and nothing else
payments migrate                  apply the SQL migrations (DATABASE_URL, or the embedded server)
payments demo [--memory]          a payment and a four-eyes withdrawal through the core
payments reconcile --provider P --statement FILE [--tenant T] [--format text|json|csv] [--out FILE]
                                  match a provider statement against payments and the ledger;
                                  exit 0 clean, 1 breaks left open, 2 bad input (nothing written)
payments worker [--interval S] [--batch N] [--once] [--janitor-interval J]
                                  deliver outbound webhooks: fan out the outbox, send what is due,
                                  sleep S seconds when idle; and every J seconds (default 60,
                                  0 = never) sweep as the janitor does; until interrupted (or one pass)
payments janitor [--once] [--interval S] [--batch N]
                                  ask providers about payments, refunds and withdrawals pending too
                                  long, apply their answers, expire sessions; one pass prints its
                                  counts as JSON

A command whose output pipe closes under it (`payments reconcile --format json | head`) stops
writing and exits 141, as a shell reports such a command, with no traceback; what it did stands.

Each command imports what it needs itself: `payments reconcile` starts reading its statement
before the database adapter and the core are imported (`reconcile_start`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

# What a shell reports for a command whose output pipe closed under it (128 + SIGPIPE).
EXIT_OUTPUT_CLOSED = 141


def _migrate() -> int:
    from adapters.postgres.migrate import migrate  # noqa: PLC0415
    from adapters.postgres.server import open_database  # noqa: PLC0415

    database = open_database()
    try:
        applied = migrate(database.url)
    finally:
        if database.server is not None:
            database.server.cleanup()
    where = "the embedded PostgreSQL" if database.embedded else "DATABASE_URL"
    print(f"migrations applied to {where}: {', '.join(applied) if applied else 'none (up to date)'}")
    return 0


def _tenant_create(args: argparse.Namespace) -> int:
    from entrypoints.serve import create_tenant, postgres_runtime, print_json  # noqa: PLC0415
    from payments_core.errors import DomainError  # noqa: PLC0415

    if args.rate_limit_scale < 1:
        print("--rate-limit-scale must be at least 1", file=sys.stderr)
        return 2
    with postgres_runtime(pool_size=2) as runtime:
        try:
            created = create_tenant(runtime.core, args.name, args.currency, args.rate_limit_scale)
        except DomainError as error:
            print(f"{error.code}: {error.message}", file=sys.stderr)
            return 2
    print_json(sys.stdout, created)
    return 0


def _token(args: argparse.Namespace) -> int:
    from adapters.auth.tokens import JwtTokens  # noqa: PLC0415 - only this command signs tokens
    from entrypoints import config  # noqa: PLC0415
    from entrypoints.serve import scopes_or_all  # noqa: PLC0415

    now = datetime.now(UTC)
    tokens = JwtTokens(config.token_settings())
    ttl = timedelta(minutes=args.ttl_minutes)
    token = tokens.issue(
        args.tenant, args.user, scopes_or_all(args.scope), now, now if args.mfa else None, args.live, ttl
    )
    print(token)
    return 0


def _worker(args: argparse.Namespace) -> int:
    """Several workers may run at once: each claims its own deliveries and pending objects
    (FOR UPDATE SKIP LOCKED). The janitor runs in a thread beside the delivery loop."""
    from entrypoints.composition import postgres_core  # noqa: PLC0415
    from entrypoints.worker import run_deliveries, start_janitor_in_background  # noqa: PLC0415
    from payments_core.errors import DomainError  # noqa: PLC0415

    with postgres_core() as (core, _):
        deliveries = core.deliveries
        if deliveries is None:
            print("webhook deliveries are not configured", file=sys.stderr)
            return 2
        janitor = core.janitor if args.janitor_interval > 0 else None
        if args.once:
            try:
                deliveries.work_once(datetime.now(UTC), args.batch)
                if janitor is not None:
                    janitor.sweep()
            except DomainError as error:
                print(f"{error.code}: {error.message}", file=sys.stderr)
                return 1
            return 0
        janitor_stop = start_janitor_in_background(janitor, args.janitor_interval) if janitor else None
        try:
            run_deliveries(deliveries, threading.Event(), args.interval, args.batch)
        except KeyboardInterrupt:
            return 0
        finally:
            if janitor_stop is not None:
                janitor_stop.set()
    return 0


def _janitor(args: argparse.Namespace) -> int:
    """Safe beside running workers: each pass claims its own objects (FOR UPDATE SKIP LOCKED)."""
    import attrs  # noqa: PLC0415

    from entrypoints.composition import postgres_core  # noqa: PLC0415
    from entrypoints.worker import run_janitor  # noqa: PLC0415
    from payments_core.errors import DomainError  # noqa: PLC0415

    with postgres_core() as (core, _):
        janitor = core.janitor
        if janitor is None:
            print("the janitor is not configured", file=sys.stderr)
            return 2
        if args.once:
            try:
                report = janitor.sweep(args.batch)
            except DomainError as error:
                print(f"{error.code}: {error.message}", file=sys.stderr)
                return 1
            print(json.dumps(attrs.asdict(report)))
            return 0
        try:
            run_janitor(janitor, threading.Event(), args.interval, args.batch)
        except KeyboardInterrupt:
            return 0
    return 0


def _reconcile(args: argparse.Namespace) -> int:
    from entrypoints.reconcile_start import draws_progress, fingerprint_soon  # noqa: PLC0415

    fingerprint = fingerprint_soon(args.statement, lines=draws_progress)
    from entrypoints.composition import postgres_core  # noqa: PLC0415
    from entrypoints.reconcile import run  # noqa: PLC0415

    with postgres_core() as (core, _):
        return run(args, core, core.tenants.tenant_ids, fingerprint)


def _serve(args: argparse.Namespace) -> int:
    from entrypoints.serve import serve  # noqa: PLC0415

    return serve(args.host, args.port, sys.stdout, demo=args.demo, worker=not args.no_worker)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="payments", description="payments-core")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply the database migrations")
    demo = commands.add_parser("demo", help="take a payment, withdraw under four-eyes, print the ledger")
    demo.add_argument("--memory", action="store_true", help="keep everything in memory, no database")
    serve = commands.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="create the demo tenant and print credentials")
    serve.add_argument(
        "--no-worker", action="store_true", help="do not deliver webhooks nor run the janitor in this process"
    )
    tenant = commands.add_parser("tenant", help="manage tenants").add_subparsers(dest="action", required=True)
    create = tenant.add_parser("create", help="create a tenant and a test-mode API key with every scope")
    create.add_argument("name")
    create.add_argument("--currency", default="KES", help="the default wallet currency (ISO 4217)")
    create.add_argument("--rate-limit-scale", type=int, default=1, help="multiply the tenant's rate limits")
    worker = commands.add_parser("worker", help="deliver outbound webhooks to tenants")
    worker.add_argument("--interval", type=float, default=1.0, help="seconds to sleep when idle")
    worker.add_argument("--batch", type=int, default=50, help="deliveries per pass")
    worker.add_argument("--once", action="store_true", help="one pass, then exit")
    worker.add_argument(
        "--janitor-interval", type=float, default=60.0, help="seconds between janitor sweeps (0: none)"
    )
    janitor = commands.add_parser("janitor", help="ask providers about objects pending too long")
    janitor.add_argument("--once", action="store_true", help="one sweep, print its counts, then exit")
    janitor.add_argument("--interval", type=float, default=60.0, help="seconds between sweeps")
    janitor.add_argument("--batch", type=int, default=50, help="objects of each kind per sweep (1-500)")
    reconcile = commands.add_parser("reconcile", help="reconcile a provider statement")
    from entrypoints.reconcile_start import add_arguments  # noqa: PLC0415

    add_arguments(reconcile)
    token = commands.add_parser("token", help="print a bearer JWT for a user")
    token.add_argument("--tenant", required=True)
    token.add_argument("--user", required=True)
    token.add_argument("--scope", nargs="*", help="scopes (default: every scope)")
    token.add_argument("--mfa", action="store_true", help="mark the MFA step-up as verified now")
    token.add_argument("--live", action="store_true", help="a live-mode token (default: test mode)")
    token.add_argument("--ttl-minutes", type=int, default=60)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except BrokenPipeError:
        # The reader left (`| head`): what the command did stands; nothing more is written, the
        # exit at shutdown included, which would flush into the closed pipe and fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OUTPUT_CLOSED


def _run(args: argparse.Namespace) -> int:
    if args.command == "migrate":
        return _migrate()
    if args.command == "serve":
        return _serve(args)
    if args.command == "tenant":
        return _tenant_create(args)
    if args.command == "token":
        return _token(args)
    if args.command == "worker":
        return _worker(args)
    if args.command == "janitor":
        return _janitor(args)
    if args.command == "reconcile":
        return _reconcile(args)
    from entrypoints.demo import run_demo  # noqa: PLC0415 - the batch commands need none of it

    return run_demo(sys.stdout, in_memory=args.memory)


if __name__ == "__main__":
    raise SystemExit(main())
