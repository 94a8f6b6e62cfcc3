"""A whole in-memory deployment of the core for use-case tests: fakes, never mocks.

core = make_core()
alice = core.user("alice", ALL_SCOPES)         # fresh MFA, tenant t1
session = checkout.create_session(core.deps, alice, ...)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import attrs

from adapters.auth.totp import PyOtpTotp
from adapters.memory.clock import ManualClock, SequentialIds
from adapters.memory.system import InMemorySecretBox, RandomSecrets
from adapters.memory.uow import InMemoryStore, InMemoryUnitOfWorkFactory
from adapters.postgres.uow import PostgresUnitOfWorkFactory
from adapters.providers.sandbox import SandboxProvider
from payments_core.ledger import problems
from payments_core.model.access import Tenant
from payments_core.policies import Principal, Scope
from payments_core.services.context import Deps
from payments_core.services.tenants import create_tenant
from tests.support.postgres_store import PostgresStoreView

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ALL_SCOPES = frozenset(scope.value for scope in Scope)


@attrs.define
class Core:
    deps: Deps
    clock: ManualClock
    store: Any  # InMemoryStore, or PostgresStoreView with the same shape
    sandbox: SandboxProvider
    tenant: Tenant
    other_tenant: Tenant

    def user(
        self,
        user_id: str,
        scopes: Iterable[str] = ALL_SCOPES,
        tenant_id: str | None = None,
        mfa: bool = True,
        livemode: bool = False,
    ) -> Principal:
        """A person; MFA verified just now unless `mfa=False`. Test mode (sandbox) by default."""
        return Principal.user(
            tenant_id or self.tenant.id,
            user_id,
            scopes,
            self.clock.now() if mfa else None,
            livemode=livemode,
        )

    def api_key(
        self, key_id: str = "key_1", scopes: Iterable[str] = ALL_SCOPES, tenant_id: str | None = None
    ) -> Principal:
        return Principal.api_key(tenant_id or self.tenant.id, key_id, scopes, livemode=False)

    def ledger_problems(self, tenant_id: str | None = None) -> list[str]:
        tid = tenant_id or self.tenant.id
        return problems(self.store.ledger.accounts(tid), self.store.ledger.entries(tid))

    def wallet(self, tenant_id: str | None = None, currency: str | None = None) -> int:
        """The wallet's available balance in minor units."""
        tid = tenant_id or self.tenant.id
        cur = currency or self.tenant.currency
        return self.store.ledger.account(tid, f"{tid}/wallet/{cur}").available().minor


# The backend of `make_core`: None for memory, or a factory of fresh PostgreSQL pools that the
# `service_backend` fixture installs (and cleans up) for the PostgreSQL run of each test.
postgres_pools: Callable[[], Any] | None = None


def _storage(clock: ManualClock) -> tuple[Any, Any]:
    if postgres_pools is None:
        store = InMemoryStore(clock)
        return InMemoryUnitOfWorkFactory(store), store
    pool = postgres_pools()
    factory = PostgresUnitOfWorkFactory(pool, clock)
    return factory, PostgresStoreView(pool, clock, factory)


def make_core(currency: str = "KES") -> Core:
    clock = ManualClock(T0)
    uow, store = _storage(clock)
    sandbox = SandboxProvider(clock, signing_secret="whsec_test_sandbox")
    deps = Deps(
        uow=uow,
        clock=clock,
        ids=SequentialIds(),
        secrets=RandomSecrets(),
        secret_box=InMemorySecretBox(),
        providers={"sandbox": sandbox},
        totp=PyOtpTotp(),
    )
    tenant = create_tenant(deps, "t1", "Tenant One", currency)
    other = create_tenant(deps, "t2", "Tenant Two", currency)
    return Core(deps, clock, store, sandbox, tenant, other)
