"""Repositories and the unit of work: where aggregates live between use cases.

Every read is tenant-scoped: another tenant's id is simply not found. The few lookups without a
tenant (a provider's reference, an API key's hash, a public link's slug, a webhook URL id) are
what arrives from outside before anyone is authenticated; their callers check what they find.
"""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

import attrs

from payments_core.model.access import ApiKey, Tenant
from payments_core.model.customers import CustomerPreferences
from payments_core.model.integrations import (
    AuditEvent,
    OutboundEvent,
    ProviderConfig,
    ProviderEventRecord,
    WebhookEndpoint,
)
from payments_core.model.links import PaymentLink
from payments_core.model.payments import CheckoutSession, Payment, Refund
from payments_core.model.wallet import Withdrawal
from payments_core.ports.ledger import LedgerStore
from payments_core.states import PaymentStatus, WithdrawalStatus

T = TypeVar("T")


@attrs.frozen
class Page(Generic[T]):
    items: tuple[T, ...]
    total: int


class TenantRepository(Protocol):
    def add(self, tenant: Tenant) -> None: ...
    def get(self, tenant_id: str) -> Tenant | None: ...
    def update(self, tenant: Tenant) -> None: ...


class CheckoutSessionRepository(Protocol):
    def add(self, session: CheckoutSession) -> None: ...
    def get(self, tenant_id: str, session_id: str) -> CheckoutSession | None: ...
    def update(self, session: CheckoutSession) -> None: ...
    def by_idempotency_key(self, tenant_id: str, key: str) -> CheckoutSession | None: ...
    def by_provider_reference(self, provider: str, reference: str) -> CheckoutSession | None: ...
    def by_phone_number(self, tenant_id: str, phone_number: str) -> list[CheckoutSession]: ...
    def due_to_expire(self, now: datetime, limit: int) -> list[CheckoutSession]: ...


class PaymentRepository(Protocol):
    def add(self, payment: Payment) -> None: ...
    def get(self, tenant_id: str, payment_id: str) -> Payment | None: ...
    def update(self, payment: Payment) -> None: ...
    def by_provider_reference(self, provider: str, reference: str) -> Payment | None: ...
    def search(
        self,
        tenant_id: str,
        status: PaymentStatus | None,
        created_from: datetime | None,
        created_to: datetime | None,
        offset: int,
        limit: int,
    ) -> Page[Payment]:
        """Newest first."""
        ...


class RefundRepository(Protocol):
    def add(self, refund: Refund) -> None: ...
    def get(self, tenant_id: str, refund_id: str) -> Refund | None: ...
    def update(self, refund: Refund) -> None: ...
    def by_provider_reference(self, provider: str, reference: str) -> Refund | None: ...
    def for_payment(self, tenant_id: str, payment_id: str) -> list[Refund]: ...


class CustomerRepository(Protocol):
    def get(self, tenant_id: str, customer_id: str) -> CustomerPreferences | None: ...
    def save(self, preferences: CustomerPreferences) -> None: ...


class PaymentLinkRepository(Protocol):
    def add(self, link: PaymentLink) -> None: ...
    def get(self, tenant_id: str, slug: str) -> PaymentLink | None: ...
    def by_slug(self, slug: str) -> PaymentLink | None: ...
    def update(self, link: PaymentLink) -> None: ...


class WithdrawalRepository(Protocol):
    def add(self, withdrawal: Withdrawal) -> None: ...
    def get(self, tenant_id: str, withdrawal_id: str) -> Withdrawal | None: ...
    def update(self, withdrawal: Withdrawal) -> None: ...
    def by_idempotency_key(self, tenant_id: str, key: str) -> Withdrawal | None: ...
    def by_provider_reference(self, provider: str, reference: str) -> Withdrawal | None: ...
    def search(self, tenant_id: str, status: WithdrawalStatus | None, limit: int) -> Page[Withdrawal]:
        """Newest first; `total` counts every match, not only the page."""
        ...


class ApiKeyRepository(Protocol):
    def add(self, key: ApiKey) -> None: ...
    def get(self, tenant_id: str, key_id: str) -> ApiKey | None: ...
    def update(self, key: ApiKey) -> None: ...
    def by_hash(self, secret_hash: str) -> ApiKey | None: ...
    def for_tenant(self, tenant_id: str) -> list[ApiKey]: ...


class ProviderConfigRepository(Protocol):
    def get(self, tenant_id: str, provider: str) -> ProviderConfig | None: ...
    def by_url_id(self, url_id: str) -> ProviderConfig | None: ...
    def save(self, config: ProviderConfig) -> None: ...


class WebhookEndpointRepository(Protocol):
    def add(self, endpoint: WebhookEndpoint) -> None: ...
    def get(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None: ...
    def update(self, endpoint: WebhookEndpoint) -> None: ...
    def for_tenant(self, tenant_id: str) -> list[WebhookEndpoint]:
        """Active endpoints, oldest first."""
        ...


class Outbox(Protocol):
    def add(self, event: OutboundEvent) -> None: ...
    def for_tenant(self, tenant_id: str) -> list[OutboundEvent]: ...


class AuditLog(Protocol):
    def append(self, event: AuditEvent) -> None: ...
    def search(
        self, tenant_id: str, action: str | None, target_id: str | None, offset: int, limit: int
    ) -> Page[AuditEvent]:
        """Newest first."""
        ...


class ProviderEventLog(Protocol):
    def record(self, event: ProviderEventRecord) -> bool:
        """Keep the event; False when (provider, event id) was already recorded."""
        ...


class UnitOfWork(Protocol):
    """One atomic piece of work: everything inside commits together or not at all.

    Leaving the `with` block without `commit()` rolls back.
    """

    ledger: LedgerStore
    tenants: TenantRepository
    sessions: CheckoutSessionRepository
    payments: PaymentRepository
    refunds: RefundRepository
    customers: CustomerRepository
    links: PaymentLinkRepository
    withdrawals: WithdrawalRepository
    api_keys: ApiKeyRepository
    provider_configs: ProviderConfigRepository
    webhook_endpoints: WebhookEndpointRepository
    outbox: Outbox
    audit: AuditLog
    provider_events: ProviderEventLog

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...
