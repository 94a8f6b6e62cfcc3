"""`payments serve`: the HTTP API on PostgreSQL (migrated first), and the demo tenant of `make run`.

The runtime is built once per process: one connection pool, the core on it, the shared
idempotency and rate-limit stores, the token settings and the secret box from `config`.
"""

from __future__ import annotations

import gc
import json
import logging
import signal
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TextIO

import psycopg

from adapters.auth.tokens import JwtTokens
from adapters.memory.system import SystemClock
from adapters.postgres.deliveries import PostgresDeliveryStore
from adapters.postgres.edge import PostgresIdempotencyStore, PostgresRateLimiter
from adapters.postgres.janitor import PostgresJanitorStore
from adapters.postgres.migrate import migrate
from adapters.postgres.pool import make_pool
from adapters.postgres.server import open_database
from adapters.postgres.uow import PostgresUnitOfWorkFactory
from adapters.postgres.views import PostgresPaymentViews
from entrypoints import config
from entrypoints.composition import wire_core
from entrypoints.http import HttpRuntime, create_app
from entrypoints.http.settings import HttpSettings
from entrypoints.worker import JANITOR_INTERVAL, start_in_background, start_janitor_in_background
from payments_core import PaymentsCore
from payments_core.errors import NotFound
from payments_core.policies import Principal, Scope

ALL_SCOPES = tuple(sorted(scope.value for scope in Scope))
DEMO_TENANT = "demo"
DEMO_TOKEN_TTL = timedelta(hours=12)
log = logging.getLogger("payments.serve")


@contextmanager
def postgres_runtime(settings: HttpSettings | None = None, pool_size: int = 10) -> Iterator[HttpRuntime]:
    """The HTTP runtime on the configured database; the pool (and an embedded server) stop on exit."""
    database = open_database()
    pool = None
    try:
        migrate(database.url)
        pool = make_pool(database.url, max_size=pool_size)
        clock = SystemClock()
        core, sandbox = wire_core(
            PostgresUnitOfWorkFactory(pool, clock),
            clock,
            None,
            config.secret_box(),
            PostgresDeliveryStore(pool),
            janitor_store=PostgresJanitorStore(pool),
        )
        checked_pool = pool

        def ready() -> bool:
            try:
                with checked_pool.connection(timeout=2) as conn:
                    conn.execute("SELECT 1")
            except (psycopg.Error, TimeoutError, OSError):
                return False
            return True

        yield HttpRuntime(
            core=core,
            tokens=JwtTokens(config.token_settings()),
            idempotency=PostgresIdempotencyStore(pool),
            limiter=PostgresRateLimiter(pool),
            views=PostgresPaymentViews(database.url),
            settings=settings or HttpSettings.from_env(),
            sandbox=sandbox,
            ready=ready,
        )
    finally:
        if pool is not None:
            pool.close()
        if database.server is not None:
            database.server.cleanup()


def operator(tenant_id: str, core: PaymentsCore) -> Principal:
    """The platform operator acting inside a tenant (the CLI): every scope, test mode."""
    return Principal.user(tenant_id, "operator", ALL_SCOPES, core.deps.clock.now(), livemode=False)


def create_tenant(
    core: PaymentsCore, name: str, currency: str, rate_limit_scale: int = 1, tenant_id: str | None = None
) -> dict[str, Any]:
    """A tenant with the sandbox provider and a test-mode API key holding every scope."""
    chosen = tenant_id or f"ten_{uuid.uuid4().hex[:16]}"
    tenant = core.tenants.create_tenant(
        chosen, name, currency.upper(), livemode=False, rate_limit_scale=rate_limit_scale
    )
    key = core.api_keys.create_api_key(operator(tenant.id, core), "cli", False, ALL_SCOPES)
    return {
        "tenant_id": tenant.id,
        "name": tenant.name,
        "currency": tenant.currency,
        "rate_limit_scale": tenant.rate_limit_scale,
        "api_key": key.secret,
        "api_key_id": key.key.id,
    }


def demo_credentials(runtime: HttpRuntime, out: TextIO, base_url: str) -> None:
    """On first start, the demo tenant and its key; on every start, fresh tokens for its two users."""
    core = runtime.core
    created: dict[str, Any] | None = None
    try:
        core.tenants.get_tenant(DEMO_TENANT)
    except NotFound:
        created = create_tenant(core, "Demo Ltd", "KES", tenant_id=DEMO_TENANT)
    now = core.deps.clock.now()

    def token(user: str) -> str:
        return runtime.tokens.issue(
            DEMO_TENANT, user, ALL_SCOPES, now, now, livemode=False, ttl=DEMO_TOKEN_TTL
        )

    lines = [
        f"payments-core API: {base_url}/api/v1   docs: {base_url}/docs",
        f"demo tenant: {DEMO_TENANT} (KES, sandbox provider, test mode)",
        f"export BASE={base_url}/api/v1",
        f"export TOKEN={token('initiator')}",
        f"export APPROVER_TOKEN={token('approver')}",
    ]
    if created is not None:
        lines.append(f"export API_KEY={created['api_key']}")
    else:
        lines.append(
            "# the demo API key was shown at first start; `payments tenant create NAME` makes a new tenant"
        )
    lines.append(
        "# tokens last 12 h; their MFA step-up is fresh for 5 minutes (then POST /api/v1/mfa/verify)"
    )
    out.write("\n".join(lines) + "\n")
    out.flush()


def serve(
    host: str,
    port: int,
    out: TextIO,
    demo: bool = False,
    log_level: str = "info",
    worker: bool = True,
    janitor_interval: float = JANITOR_INTERVAL,
) -> int:
    """The API until interrupted; unless `worker` is False, the webhook deliveries and the janitor
    (every `janitor_interval` seconds; 0 = not in this process) run beside it in daemon threads."""
    import uvicorn  # noqa: PLC0415 - only the server needs it

    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again; ending as SystemExit
    # here lets the pool close and the embedded PostgreSQL stop before the process exits.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    with postgres_runtime() as runtime:
        base_url = f"http://{host}:{port}"
        if demo:
            demo_credentials(runtime, out, base_url)
        else:
            out.write(f"payments-core API: {base_url}/api/v1   docs: {base_url}/docs\n")
            out.flush()
        deliveries, janitor = runtime.core.deliveries, runtime.core.janitor
        stops = []
        if worker and deliveries is not None:
            stops.append(start_in_background(deliveries))
        if worker and janitor is not None and janitor_interval > 0:
            stops.append(start_janitor_in_background(janitor, janitor_interval))
        try:
            app = create_app(runtime)
            _settle_start_up_objects()
            uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
        finally:
            for stop in stops:
                stop.set()
    return 0


def _settle_start_up_objects() -> None:
    """Move everything built at start-up (the app, its routes, schemas and modules, hundreds of
    thousands of objects) out of the cyclic collector's reach: they live as long as the process,
    and rescanning them made every full collection a 60 ms pause of all requests in flight."""
    gc.collect()
    gc.freeze()


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def print_json(out: TextIO, value: object) -> None:
    out.write(json.dumps(value) + "\n")


def scopes_or_all(scopes: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(scopes) if scopes else ALL_SCOPES
