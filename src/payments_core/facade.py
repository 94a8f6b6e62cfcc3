"""The embedding facade: one object exposing every use case with its ports already bound.

    core = payments_core.bootstrap(uow=..., providers={...}, clock=..., ids=..., secrets=..., secret_box=...)
    session = core.checkout.create_session(principal, amount=Money.parse("10.00", "USD"), reference="o-1")

Each attribute (`core.checkout`, `core.wallet`, ...) is one service module whose public functions
are callable without their first argument, `deps`. The HTTP API and the CLI call the very same
functions, so an embedding service gets exactly the behaviour the API has.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from datetime import timedelta
from types import ModuleType
from typing import Any

from payments_core.fees import PLATFORM_DEFAULT_SCHEDULE, FeePolicy
from payments_core.ports import (
    Clock,
    IdGenerator,
    PaymentProvider,
    SecretBox,
    SecretGenerator,
    TotpVerifier,
    UnitOfWorkFactory,
)
from payments_core.ports.deliveries import DeliveryStore, WebhookSender
from payments_core.ports.janitor import JanitorStore, StatusQuery
from payments_core.services import (
    api_keys,
    audit_events,
    checkout,
    customers,
    deliveries,
    direct_payments,
    janitor,
    ledger_views,
    links,
    mfa,
    orders,
    payments,
    provider_config,
    provider_events,
    reconciliation,
    refunds,
    tenants,
    wallet,
    webhooks,
)
from payments_core.services.context import Deps
from payments_core.services.deliveries import DeliveryDeps
from payments_core.services.janitor import NO_STATUS, JanitorDeps, JanitorSettings


def use_cases(module: ModuleType) -> tuple[str, ...]:
    """A module's use cases: its own public functions whose first parameter is `deps`."""
    return tuple(
        name
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if function.__module__ == module.__name__
        and not name.startswith("_")
        and next(iter(inspect.signature(function).parameters), None) == "deps"
    )


class BoundUseCases:
    """A service module's use cases with `deps` filled in."""

    def __init__(self, module: ModuleType, deps: Deps | DeliveryDeps | JanitorDeps) -> None:
        self._module = module
        self._names = use_cases(module)
        self._deps = deps

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_") or name not in self._names:
            raise AttributeError(f"{self._module.__name__} has no use case {name!r}")
        bound: Callable[..., Any] = functools.partial(getattr(self._module, name), self._deps)
        return bound

    def __dir__(self) -> list[str]:
        return sorted(self._names)


class PaymentsCore:
    """Every use case of the platform, grouped by resource."""

    def __init__(
        self, deps: Deps, delivery: DeliveryDeps | None = None, janitor_deps: JanitorDeps | None = None
    ) -> None:
        self.deps = deps
        self.tenants = BoundUseCases(tenants, deps)
        self.checkout = BoundUseCases(checkout, deps)
        self.links = BoundUseCases(links, deps)
        self.orders = BoundUseCases(orders, deps)
        self.payments = BoundUseCases(payments, deps)
        self.refunds = BoundUseCases(refunds, deps)
        self.direct_payments = BoundUseCases(direct_payments, deps)
        self.customers = BoundUseCases(customers, deps)
        self.wallet = BoundUseCases(wallet, deps)
        self.api_keys = BoundUseCases(api_keys, deps)
        self.mfa = BoundUseCases(mfa, deps)
        self.provider_config = BoundUseCases(provider_config, deps)
        self.webhooks = BoundUseCases(webhooks, deps)
        self.audit = BoundUseCases(audit_events, deps)
        self.ledger = BoundUseCases(ledger_views, deps)
        self.provider_events = BoundUseCases(provider_events, deps)
        self.reconciliation = BoundUseCases(reconciliation, deps)
        # Outbound webhook deliveries: bound only where the composition chose a store and a sender.
        self.deliveries = BoundUseCases(deliveries, delivery) if delivery is not None else None
        # The janitor's sweep: bound only where the composition chose a store for its claims.
        self.janitor = BoundUseCases(janitor, janitor_deps) if janitor_deps is not None else None


def bootstrap(
    *,
    uow: UnitOfWorkFactory,
    providers: Mapping[str, PaymentProvider],
    clock: Clock,
    ids: IdGenerator,
    secrets: SecretGenerator,
    secret_box: SecretBox,
    fees: FeePolicy | None = None,
    checkout_ttl: timedelta = timedelta(minutes=30),
    totp: TotpVerifier | None = None,
    delivery_store: DeliveryStore | None = None,
    webhook_sender: WebhookSender | None = None,
    jitter: Callable[[], float] | None = None,
    janitor_store: JanitorStore | None = None,
    status_query: StatusQuery | None = None,
    janitor_settings: JanitorSettings | None = None,
) -> PaymentsCore:
    """Wire the core to the adapters the embedding service chose. Webhook deliveries are bound when
    a delivery store, a sender and a jitter source (uniform in [0, 1)) are all given; the janitor
    when a janitor store is (with no `status_query` it asks nobody and only expires sessions)."""
    deps = Deps(
        uow=uow,
        clock=clock,
        ids=ids,
        secrets=secrets,
        secret_box=secret_box,
        providers=dict(providers),
        fees=fees or FeePolicy(PLATFORM_DEFAULT_SCHEDULE),
        checkout_ttl=checkout_ttl,
        totp=totp,
    )
    delivery = None
    if delivery_store is not None and webhook_sender is not None and jitter is not None:
        delivery = DeliveryDeps(deps, delivery_store, webhook_sender, jitter)
    janitor_deps = None
    if janitor_store is not None:
        janitor_deps = JanitorDeps(
            deps, janitor_store, status_query or NO_STATUS, janitor_settings or JanitorSettings()
        )
    return PaymentsCore(deps, delivery, janitor_deps)
