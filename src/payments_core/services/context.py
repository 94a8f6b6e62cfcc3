"""What every use case receives, and the small steps they all share.

A use case is a function `(deps, principal, ...) -> result` that opens one unit of work, checks
the caller's scope, loads aggregates of the caller's tenant only, changes them through their
state tables, posts at most one ledger transfer per business event, appends an audit event and
an outbound event, and commits. Provider calls happen outside the unit of work that records
their intent, so a slow or failing provider never holds a transaction open.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final, TypeVar

import attrs

from payments_core.errors import NotFound, ProviderUnavailable
from payments_core.fees import PLATFORM_DEFAULT_SCHEDULE, FeePolicy
from payments_core.ledger import Chart
from payments_core.model.access import Tenant
from payments_core.model.integrations import AuditEvent, OutboundEvent
from payments_core.policies import Principal
from payments_core.ports import (
    Clock,
    IdGenerator,
    PaymentProvider,
    SecretBox,
    SecretGenerator,
    TotpVerifier,
    UnitOfWork,
    UnitOfWorkFactory,
)

T = TypeVar("T")

SANDBOX: Final = "sandbox"
KNOWN_PROVIDERS: Final = ("sandbox", "stripe", "mercadopago", "mpesa", "paystack", "pesapal")
# Who pays a withdrawal out, per method (seed 002): M-Pesa B2C, M-Pesa B2B (till), Paystack transfer.
PAYOUT_PROVIDERS: Final[Mapping[str, str]] = {
    "mpesa": "mpesa",
    "till": "mpesa",
    "bank_transfer": "paystack",
}


@attrs.frozen
class Deps:
    """The ports a use case needs, chosen by the composition root."""

    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdGenerator
    secrets: SecretGenerator
    secret_box: SecretBox
    providers: Mapping[str, PaymentProvider]
    fees: FeePolicy = attrs.field(factory=lambda: FeePolicy(PLATFORM_DEFAULT_SCHEDULE))
    checkout_ttl: timedelta = timedelta(minutes=30)
    # One-time codes for MFA enrollment and step-up; None where the deployment offers no MFA.
    totp: TotpVerifier | None = None

    def provider(self, name: str) -> PaymentProvider:
        provider = self.providers.get(name)
        if provider is None:
            raise ProviderUnavailable(f"the {name} provider is not configured", provider=name)
        return provider

    def checkout_provider(self, tenant: Tenant, livemode: bool, method: str | None) -> str:
        """Test-mode credentials reach only the sandbox; live ones the tenant's choice."""
        if not livemode:
            return SANDBOX
        if method is not None and method in tenant.method_providers:
            return tenant.method_providers[method]
        return tenant.providers[0] if tenant.providers else SANDBOX

    def payout_provider(self, livemode: bool, method: str) -> str:
        return PAYOUT_PROVIDERS[method] if livemode else SANDBOX


def found(item: T | None, kind: str, item_id: str) -> T:
    """The item, or `RESOURCE_NOT_FOUND`: a missing id and another tenant's look the same."""
    if item is None:
        raise NotFound(f"{kind} not found", resource=kind, id=item_id)
    return item


def tenant_of(uow: UnitOfWork, tenant_id: str) -> Tenant:
    return found(uow.tenants.get(tenant_id), "tenant", tenant_id)


def open_chart(uow: UnitOfWork, tenant_id: str, currency: str) -> Chart:
    """Open (idempotently) every account the tenant needs in `currency`."""
    chart = Chart(tenant_id)
    uow.ledger.open_accounts(chart.accounts(currency, KNOWN_PROVIDERS))
    return chart


def audit(
    uow: UnitOfWork,
    deps: Deps,
    actor: Principal | None,
    action: str,
    target_type: str,
    target_id: str,
    tenant_id: str,
    **details: Any,
) -> None:
    """Append an audit event; `actor` None means the system (a provider event, a sweep)."""
    uow.audit.append(
        AuditEvent(
            id=deps.ids.new_id("aud"),
            tenant_id=tenant_id,
            action=action,
            actor_kind=actor.kind.value if actor else "system",
            actor_id=actor.subject if actor else "system",
            target_type=target_type,
            target_id=target_id,
            at=deps.clock.now(),
            details=details,
        )
    )


def emit(
    uow: UnitOfWork,
    deps: Deps,
    tenant_id: str,
    event_type: str,
    data: Mapping[str, Any],
    livemode: bool = True,
    endpoint_id: str | None = None,
) -> OutboundEvent:
    """Write a webhook for the tenant to the outbox, in the same unit of work as the change."""
    event = OutboundEvent(
        id=deps.ids.new_id("evt"),
        tenant_id=tenant_id,
        type=event_type,
        created_at=deps.clock.now(),
        data=data,
        endpoint_id=endpoint_id,
        livemode=livemode,
    )
    uow.outbox.add(event)
    return event
