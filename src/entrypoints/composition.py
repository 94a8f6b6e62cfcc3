"""The composition root: which adapters implement the core's ports, chosen from configuration.

    with postgres_core() as (core, sandbox): ...     # DATABASE_URL, or the embedded server
    core, sandbox = in_memory_core()                # everything in memory

Both wire the sandbox provider so that its signed webhooks reach the core at once, as they
would over HTTP.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

from adapters.auth.totp import PyOtpTotp
from adapters.memory.system import InMemorySecretBox, RandomIds, RandomSecrets, SystemClock
from adapters.postgres.deliveries import PostgresDeliveryStore
from adapters.postgres.migrate import migrate
from adapters.postgres.pool import make_pool
from adapters.postgres.server import open_database
from adapters.postgres.uow import PostgresUnitOfWorkFactory
from adapters.providers.sandbox import SandboxProvider, Webhook
from adapters.providers.webhook_sender import HttpxWebhookSender
from entrypoints import config
from payments_core import PaymentsCore, bootstrap
from payments_core.ports import Clock, SecretBox, UnitOfWorkFactory
from payments_core.ports.deliveries import DeliveryStore


def wire_core(
    uow: UnitOfWorkFactory,
    clock: Clock,
    sandbox_secret: str | None = None,
    secret_box: SecretBox | None = None,
    delivery_store: DeliveryStore | None = None,
) -> tuple[PaymentsCore, SandboxProvider]:
    """The core with the sandbox provider, whose signed webhooks reach the core at once, and (given
    a delivery store) the outbound webhook deliveries, sent with httpx."""
    secrets = RandomSecrets()
    sandbox = SandboxProvider(clock, signing_secret=sandbox_secret or f"whsec_{secrets.token(24)}")
    core = bootstrap(
        uow=uow,
        providers={"sandbox": sandbox},
        clock=clock,
        ids=RandomIds(),
        secrets=secrets,
        secret_box=secret_box or InMemorySecretBox(),
        totp=PyOtpTotp(),
        delivery_store=delivery_store,
        webhook_sender=HttpxWebhookSender() if delivery_store is not None else None,
        jitter=random.SystemRandom().random,
    )

    def deliver(webhook: Webhook) -> object:
        return core.provider_events.receive_webhook("sandbox", webhook.headers, webhook.body)

    sandbox.deliver = deliver
    return core, sandbox


def in_memory_core(
    clock: Clock | None = None, sandbox_secret: str | None = None
) -> tuple[PaymentsCore, SandboxProvider]:
    from adapters.memory.deliveries import InMemoryDeliveryStore  # noqa: PLC0415
    from adapters.memory.uow import InMemoryStore, InMemoryUnitOfWorkFactory  # noqa: PLC0415

    clock = clock or SystemClock()
    store = InMemoryStore(clock)
    return wire_core(
        InMemoryUnitOfWorkFactory(store), clock, sandbox_secret, delivery_store=InMemoryDeliveryStore(store)
    )


@contextmanager
def postgres_core(sandbox_secret: str | None = None) -> Iterator[tuple[PaymentsCore, SandboxProvider]]:
    """The core on PostgreSQL (migrated first); the pool and an embedded server stop on exit."""
    database = open_database()
    pool = None
    try:
        migrate(database.url)
        pool = make_pool(database.url)
        clock = SystemClock()
        yield wire_core(
            PostgresUnitOfWorkFactory(pool, clock),
            clock,
            sandbox_secret,
            config.secret_box(),
            PostgresDeliveryStore(pool),
        )
    finally:
        if pool is not None:
            pool.close()
        if database.server is not None:
            database.server.cleanup()
