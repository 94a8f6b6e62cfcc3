"""A tiny in-memory table and the repositories built on it.

Rows are frozen attrs objects keyed by (tenant_id, id); scans are linear, which is what an
in-memory store for tests and small embedded services can afford. Each table can snapshot and
restore itself so that a unit of work rolls back for real.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Generic, TypeVar

from payments_core.errors import IdempotencyConflict
from payments_core.model.access import ApiKey, MfaFactor, Tenant
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
from payments_core.ports import Page
from payments_core.states import PaymentStatus, WithdrawalStatus

T = TypeVar("T")
Key = tuple[str, str]


class Table(Generic[T]):
    def __init__(self, key: Callable[[T], Key]) -> None:
        self._key = key
        self._rows: dict[Key, T] = {}
        self._saved: dict[Key, T] | None = None

    def insert(self, row: T) -> None:
        key = self._key(row)
        if key in self._rows:
            raise IdempotencyConflict("a row with this id exists already", id=key[1])
        self._rows[key] = row

    def upsert(self, row: T) -> None:
        self._rows[self._key(row)] = row

    def replace(self, row: T) -> None:
        key = self._key(row)
        if key not in self._rows:
            raise KeyError(key)
        self._rows[key] = row

    def get(self, key: Key) -> T | None:
        return self._rows.get(key)

    def rows(self) -> Iterable[T]:
        return self._rows.values()

    def find(self, predicate: Callable[[T], bool]) -> T | None:
        return next((row for row in self._rows.values() if predicate(row)), None)

    def where(self, predicate: Callable[[T], bool]) -> list[T]:
        return [row for row in self._rows.values() if predicate(row)]

    def begin(self) -> None:
        self._saved = dict(self._rows)

    def restore(self) -> None:
        if self._saved is not None:
            self._rows = self._saved
        self._saved = None

    def release(self) -> None:
        self._saved = None


def _page(rows: list[T], offset: int, limit: int) -> Page[T]:
    return Page(tuple(rows[offset : offset + limit]), len(rows))


class Tenants:
    def __init__(self) -> None:
        self.table: Table[Tenant] = Table(lambda t: (t.id, t.id))

    def add(self, tenant: Tenant) -> None:
        self.table.insert(tenant)

    def get(self, tenant_id: str) -> Tenant | None:
        return self.table.get((tenant_id, tenant_id))

    def ids(self) -> list[str]:
        return sorted(tenant.id for tenant in self.table.rows())

    def update(self, tenant: Tenant) -> None:
        self.table.replace(tenant)


class Sessions:
    def __init__(self) -> None:
        self.table: Table[CheckoutSession] = Table(lambda s: (s.tenant_id, s.id))

    def add(self, session: CheckoutSession) -> None:
        self.table.insert(session)

    def get(self, tenant_id: str, session_id: str) -> CheckoutSession | None:
        return self.table.get((tenant_id, session_id))

    def update(self, session: CheckoutSession) -> None:
        self.table.replace(session)

    def by_idempotency_key(self, tenant_id: str, key: str) -> CheckoutSession | None:
        return self.table.find(lambda s: s.tenant_id == tenant_id and s.idempotency_key == key)

    def by_provider_reference(self, provider: str, reference: str) -> CheckoutSession | None:
        return self.table.find(lambda s: s.provider == provider and s.provider_reference == reference)

    def by_id(self, session_id: str) -> CheckoutSession | None:
        return self.table.find(lambda s: s.id == session_id)

    def by_phone_number(self, tenant_id: str, phone_number: str) -> list[CheckoutSession]:
        found = self.table.where(lambda s: s.tenant_id == tenant_id and s.client_phone_number == phone_number)
        return sorted(found, key=lambda s: (s.created_at, s.id), reverse=True)

    def due_to_expire(self, now: datetime, limit: int) -> list[CheckoutSession]:
        due = self.table.where(lambda s: s.is_due_to_expire(now))
        return sorted(due, key=lambda s: (s.expires_at, s.id))[:limit]


class Payments:
    def __init__(self) -> None:
        self.table: Table[Payment] = Table(lambda p: (p.tenant_id, p.id))

    def add(self, payment: Payment) -> None:
        self.table.insert(payment)

    def get(self, tenant_id: str, payment_id: str) -> Payment | None:
        return self.table.get((tenant_id, payment_id))

    def update(self, payment: Payment) -> None:
        self.table.replace(payment)

    def by_provider_reference(self, provider: str, reference: str) -> Payment | None:
        return self.table.find(lambda p: p.provider == provider and p.provider_reference == reference)

    def search(
        self,
        tenant_id: str,
        status: PaymentStatus | None,
        created_from: datetime | None,
        created_to: datetime | None,
        offset: int,
        limit: int,
    ) -> Page[Payment]:
        found = self.table.where(
            lambda p: (
                p.tenant_id == tenant_id
                and (status is None or p.status is status)
                and (created_from is None or p.created_at >= created_from)
                and (created_to is None or p.created_at <= created_to)
            )
        )
        found.sort(key=lambda p: (p.created_at, p.id), reverse=True)
        return _page(found, offset, limit)


class Refunds:
    def __init__(self) -> None:
        self.table: Table[Refund] = Table(lambda r: (r.tenant_id, r.id))

    def add(self, refund: Refund) -> None:
        self.table.insert(refund)

    def get(self, tenant_id: str, refund_id: str) -> Refund | None:
        return self.table.get((tenant_id, refund_id))

    def update(self, refund: Refund) -> None:
        self.table.replace(refund)

    def by_provider_reference(self, provider: str, reference: str) -> Refund | None:
        return self.table.find(lambda r: r.provider == provider and r.provider_refund_id == reference)

    def for_payment(self, tenant_id: str, payment_id: str) -> list[Refund]:
        found = self.table.where(lambda r: r.tenant_id == tenant_id and r.payment_id == payment_id)
        return sorted(found, key=lambda r: (r.created_at, r.id))


class Customers:
    def __init__(self) -> None:
        self.table: Table[CustomerPreferences] = Table(lambda c: (c.tenant_id, c.customer_id))

    def get(self, tenant_id: str, customer_id: str) -> CustomerPreferences | None:
        return self.table.get((tenant_id, customer_id))

    def save(self, preferences: CustomerPreferences) -> None:
        self.table.upsert(preferences)


class Links:
    def __init__(self) -> None:
        self.table: Table[PaymentLink] = Table(lambda link: (link.tenant_id, link.slug))

    def add(self, link: PaymentLink) -> None:
        if self.by_slug(link.slug) is not None:
            raise IdempotencyConflict("this slug is taken", slug=link.slug)
        self.table.insert(link)

    def get(self, tenant_id: str, slug: str) -> PaymentLink | None:
        return self.table.get((tenant_id, slug))

    def by_slug(self, slug: str) -> PaymentLink | None:
        return self.table.find(lambda link: link.slug == slug)

    def update(self, link: PaymentLink) -> None:
        self.table.replace(link)


class Withdrawals:
    def __init__(self) -> None:
        self.table: Table[Withdrawal] = Table(lambda w: (w.tenant_id, w.id))

    def add(self, withdrawal: Withdrawal) -> None:
        self.table.insert(withdrawal)

    def get(self, tenant_id: str, withdrawal_id: str) -> Withdrawal | None:
        return self.table.get((tenant_id, withdrawal_id))

    def update(self, withdrawal: Withdrawal) -> None:
        self.table.replace(withdrawal)

    def by_idempotency_key(self, tenant_id: str, key: str) -> Withdrawal | None:
        return self.table.find(lambda w: w.tenant_id == tenant_id and w.idempotency_key == key)

    def by_provider_reference(self, provider: str, reference: str) -> Withdrawal | None:
        return self.table.find(lambda w: w.provider == provider and w.provider_reference == reference)

    def search(self, tenant_id: str, status: WithdrawalStatus | None, limit: int) -> Page[Withdrawal]:
        found = self.table.where(
            lambda w: w.tenant_id == tenant_id and (status is None or w.status is status)
        )
        found.sort(key=lambda w: (w.created_at, w.id), reverse=True)
        return _page(found, 0, limit)


class ApiKeys:
    def __init__(self) -> None:
        self.table: Table[ApiKey] = Table(lambda k: (k.tenant_id, k.id))

    def add(self, key: ApiKey) -> None:
        self.table.insert(key)

    def get(self, tenant_id: str, key_id: str) -> ApiKey | None:
        return self.table.get((tenant_id, key_id))

    def update(self, key: ApiKey) -> None:
        self.table.replace(key)

    def by_hash(self, secret_hash: str) -> ApiKey | None:
        return self.table.find(lambda k: k.secret_hash == secret_hash)

    def for_tenant(self, tenant_id: str) -> list[ApiKey]:
        found = self.table.where(lambda k: k.tenant_id == tenant_id)
        return sorted(found, key=lambda k: (k.created_at, k.id))


class MfaFactors:
    def __init__(self) -> None:
        self.table: Table[MfaFactor] = Table(lambda f: (f.tenant_id, f.user_id))

    def get(self, tenant_id: str, user_id: str) -> MfaFactor | None:
        return self.table.get((tenant_id, user_id))

    def save(self, factor: MfaFactor) -> None:
        self.table.upsert(factor)


class ProviderConfigs:
    def __init__(self) -> None:
        self.table: Table[ProviderConfig] = Table(lambda c: (c.tenant_id, c.provider))

    def get(self, tenant_id: str, provider: str) -> ProviderConfig | None:
        return self.table.get((tenant_id, provider))

    def by_url_id(self, url_id: str) -> ProviderConfig | None:
        return self.table.find(lambda c: c.url_id == url_id)

    def save(self, config: ProviderConfig) -> None:
        self.table.upsert(config)


class WebhookEndpoints:
    def __init__(self) -> None:
        self.table: Table[WebhookEndpoint] = Table(lambda e: (e.tenant_id, e.id))

    def add(self, endpoint: WebhookEndpoint) -> None:
        self.table.insert(endpoint)

    def get(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        return self.table.get((tenant_id, endpoint_id))

    def update(self, endpoint: WebhookEndpoint) -> None:
        self.table.replace(endpoint)

    def for_tenant(self, tenant_id: str) -> list[WebhookEndpoint]:
        found = self.table.where(lambda e: e.tenant_id == tenant_id and e.is_active)
        return sorted(found, key=lambda e: (e.created_at, e.id))


class OutboxTable:
    def __init__(self) -> None:
        self.table: Table[OutboundEvent] = Table(lambda e: (e.tenant_id, e.id))

    def add(self, event: OutboundEvent) -> None:
        self.table.insert(event)

    def for_tenant(self, tenant_id: str) -> list[OutboundEvent]:
        found = self.table.where(lambda e: e.tenant_id == tenant_id)
        return sorted(found, key=lambda e: (e.created_at, e.id))


class Audit:
    def __init__(self) -> None:
        self.table: Table[AuditEvent] = Table(lambda e: (e.tenant_id, e.id))

    def append(self, event: AuditEvent) -> None:
        self.table.insert(event)

    def search(
        self, tenant_id: str, action: str | None, target_id: str | None, offset: int, limit: int
    ) -> Page[AuditEvent]:
        found = self.table.where(
            lambda e: (
                e.tenant_id == tenant_id
                and (action is None or e.action == action)
                and (target_id is None or e.target_id == target_id)
            )
        )
        found.sort(key=lambda e: (e.at, e.id), reverse=True)
        return _page(found, offset, limit)


class ProviderEvents:
    def __init__(self) -> None:
        self.table: Table[ProviderEventRecord] = Table(lambda e: (e.provider, e.event_id))

    def record(self, event: ProviderEventRecord) -> bool:
        if self.table.get((event.provider, event.event_id)) is not None:
            return False
        self.table.insert(event)
        return True
