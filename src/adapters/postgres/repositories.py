"""The repositories of the unit of work, on PostgreSQL: the in-memory ones' behaviour, in SQL.

Invariants
- Same answers as `adapters.memory.tables`, in the same order: every listing sorts by the
  memory store's key ((created_at, id), (expires_at, id), (at, id); ids in code-point order),
  and a lookup that could match several rows answers the first inserted (`seq`).
- Same errors: a taken key raises `IdempotencyConflict` with the in-memory message; a slug
  taken by ANY tenant too. Differences: `update()` of a missing row raises `NotFound` where
  the in-memory table raises `KeyError`; and the database also refuses (`IdempotencyConflict`)
  what the in-memory store would accept: a second session or withdrawal of a tenant with the
  same idempotency key, a second API key with the same hash, a second webhook URL id, a row
  whose tenant does not exist (`NotFound`, at commit).
- `get` and the lookups by provider reference and by slug lock the row they return until the
  transaction ends, so read-modify-write use cases on one aggregate run one after the other
  (see `rows`).
- Tenant-scoped calls run with `app.tenant_id` = that tenant, so row-level security backs
  every `WHERE tenant_id`. Only lookups that arrive from outside before a tenant is known use
  '*': by provider reference, by slug and `due_to_expire` here (and those of
  `integration_repositories`, the tenant's API keys, provider settings, webhooks and audit log).
"""

from __future__ import annotations

from datetime import datetime

from adapters.postgres.rows import ALL_TENANTS, ID, Repository, Table, guarded, paged
from payments_core.errors import IdempotencyConflict
from payments_core.model.access import Tenant
from payments_core.model.customers import CustomerPreferences
from payments_core.model.links import PaymentLink
from payments_core.model.payments import CheckoutSession, Payment, Refund
from payments_core.model.wallet import Withdrawal
from payments_core.ports import Page
from payments_core.states import PaymentStatus, WithdrawalStatus

# Each table: its name, the aggregate, the key, and the real columns (attributes of the aggregate).
TENANTS = Table("tenants", Tenant, ("id",), ("id", "created_at"))
SESSIONS = Table("checkout_sessions", CheckoutSession, ID, (
    *ID, "payment_id", "status", "provider", "provider_reference", "idempotency_key", "client_phone_number",
    "link_slug", "expires_at", "created_at",
))  # fmt: skip
PAYMENTS = Table("payments", Payment, ID, (
    *ID, "status", "provider", "provider_reference", "session_id", "created_at",
))  # fmt: skip
REFUNDS = Table("refunds", Refund, ID, (
    *ID, "payment_id", "status", "provider", "provider_refund_id", "created_at",
))  # fmt: skip
CUSTOMERS = Table("customer_preferences", CustomerPreferences, ("tenant_id", "customer_id"), (
    "tenant_id", "customer_id", "updated_at",
))  # fmt: skip
LINKS = Table("payment_links", PaymentLink, ("tenant_id", "slug"), (
    "tenant_id", "slug", "status", "expires_at", "created_at",
))  # fmt: skip
WITHDRAWALS = Table("withdrawals", Withdrawal, ID, (
    *ID, "status", "provider", "provider_reference", "idempotency_key", "created_at",
))  # fmt: skip

PAYMENT_SEARCH = paged(
    """SELECT doc, created_at, id FROM payments
       WHERE tenant_id = %(tenant_id)s
         AND (%(status)s::text IS NULL OR status = %(status)s::text)
         AND (%(created_from)s::timestamptz IS NULL OR created_at >= %(created_from)s::timestamptz)
         AND (%(created_to)s::timestamptz IS NULL OR created_at <= %(created_to)s::timestamptz)""",
    "created_at DESC, id DESC",
)
WITHDRAWAL_SEARCH = paged(
    """SELECT doc, created_at, id FROM withdrawals
       WHERE tenant_id = %(tenant_id)s AND (%(status)s::text IS NULL OR status = %(status)s::text)""",
    "created_at DESC, id DESC",
)


class Tenants(Repository[Tenant]):
    table = TENANTS
    resource = "tenant"

    def add(self, tenant: Tenant) -> None:
        self._insert(tenant.id, tenant)

    def get(self, tenant_id: str) -> Tenant | None:
        """Not locked: every use case reads its tenant, and no update depends on a concurrent one."""
        return self._doc(tenant_id, self.table.get_sql, (tenant_id,))

    def ids(self) -> list[str]:
        with guarded():
            rows = self._execute(ALL_TENANTS, 'SELECT id FROM tenants ORDER BY id COLLATE "C"', ()).fetchall()
        return [row[0] for row in rows]

    def update(self, tenant: Tenant) -> None:
        self._update(tenant.id, tenant)


class Sessions(Repository[CheckoutSession]):
    table = SESSIONS
    resource = "checkout_session"

    def add(self, session: CheckoutSession) -> None:
        self._insert(session.tenant_id, session)

    def get(self, tenant_id: str, session_id: str) -> CheckoutSession | None:
        return self._get(tenant_id, tenant_id, session_id)

    def update(self, session: CheckoutSession) -> None:
        self._update(session.tenant_id, session)

    def by_idempotency_key(self, tenant_id: str, key: str) -> CheckoutSession | None:
        return self._doc(
            tenant_id,
            """SELECT doc FROM checkout_sessions WHERE tenant_id = %s AND idempotency_key = %s
               ORDER BY seq LIMIT 1""",
            (tenant_id, key),
        )

    def by_provider_reference(self, provider: str, reference: str) -> CheckoutSession | None:
        return self._doc(
            ALL_TENANTS,
            """SELECT doc FROM checkout_sessions WHERE provider = %s AND provider_reference = %s
               ORDER BY seq LIMIT 1 FOR NO KEY UPDATE""",
            (provider, reference),
        )

    def by_id(self, session_id: str) -> CheckoutSession | None:
        """Read only (the hosted page shows it); a change goes through `get`, which locks."""
        return self._doc(
            ALL_TENANTS, "SELECT doc FROM checkout_sessions WHERE id = %s ORDER BY seq LIMIT 1", (session_id,)
        )

    def by_phone_number(self, tenant_id: str, phone_number: str) -> list[CheckoutSession]:
        return self._docs(
            tenant_id,
            """SELECT doc FROM checkout_sessions WHERE tenant_id = %s AND client_phone_number = %s
               ORDER BY created_at DESC, id DESC""",
            (tenant_id, phone_number),
        )

    def due_to_expire(self, now: datetime, limit: int) -> list[CheckoutSession]:
        return self._docs(
            ALL_TENANTS,
            """SELECT doc FROM checkout_sessions WHERE status = 'pending' AND expires_at <= %s
               ORDER BY expires_at, id, seq LIMIT %s""",
            (now, limit),
        )


class Payments(Repository[Payment]):
    table = PAYMENTS
    resource = "payment"

    def add(self, payment: Payment) -> None:
        self._insert(payment.tenant_id, payment)

    def get(self, tenant_id: str, payment_id: str) -> Payment | None:
        return self._get(tenant_id, tenant_id, payment_id)

    def update(self, payment: Payment) -> None:
        self._update(payment.tenant_id, payment)

    def by_provider_reference(self, provider: str, reference: str) -> Payment | None:
        return self._doc(
            ALL_TENANTS,
            """SELECT doc FROM payments WHERE provider = %s AND provider_reference = %s
               ORDER BY seq LIMIT 1 FOR NO KEY UPDATE""",
            (provider, reference),
        )

    def search(
        self,
        tenant_id: str,
        status: PaymentStatus | None,
        created_from: datetime | None,
        created_to: datetime | None,
        offset: int,
        limit: int,
    ) -> Page[Payment]:
        total, items = self._count_and_docs(
            tenant_id,
            PAYMENT_SEARCH,
            {
                "tenant_id": tenant_id,
                "status": None if status is None else status.value,
                "created_from": created_from,
                "created_to": created_to,
                "offset": offset,
                "limit": limit,
            },
        )
        return Page(tuple(items), total)


class Refunds(Repository[Refund]):
    table = REFUNDS
    resource = "refund"

    def add(self, refund: Refund) -> None:
        self._insert(refund.tenant_id, refund)

    def get(self, tenant_id: str, refund_id: str) -> Refund | None:
        return self._get(tenant_id, tenant_id, refund_id)

    def update(self, refund: Refund) -> None:
        self._update(refund.tenant_id, refund)

    def by_provider_reference(self, provider: str, reference: str) -> Refund | None:
        return self._doc(
            ALL_TENANTS,
            """SELECT doc FROM refunds WHERE provider = %s AND provider_refund_id = %s
               ORDER BY seq LIMIT 1 FOR NO KEY UPDATE""",
            (provider, reference),
        )

    def for_payment(self, tenant_id: str, payment_id: str) -> list[Refund]:
        return self._docs(
            tenant_id,
            "SELECT doc FROM refunds WHERE tenant_id = %s AND payment_id = %s ORDER BY created_at, id",
            (tenant_id, payment_id),
        )


class Customers(Repository[CustomerPreferences]):
    table = CUSTOMERS
    resource = "customer"

    def get(self, tenant_id: str, customer_id: str) -> CustomerPreferences | None:
        return self._get(tenant_id, tenant_id, customer_id)

    def save(self, preferences: CustomerPreferences) -> None:
        self._upsert(preferences.tenant_id, preferences)


class Links(Repository[PaymentLink]):
    table = LINKS
    resource = "payment_link"

    def add(self, link: PaymentLink) -> None:
        self._insert(link.tenant_id, link, lambda: IdempotencyConflict("this slug is taken", slug=link.slug))

    def get(self, tenant_id: str, slug: str) -> PaymentLink | None:
        return self._get(tenant_id, tenant_id, slug)

    def by_slug(self, slug: str) -> PaymentLink | None:
        return self._doc(
            ALL_TENANTS, "SELECT doc FROM payment_links WHERE slug = %s FOR NO KEY UPDATE", (slug,)
        )

    def update(self, link: PaymentLink) -> None:
        self._update(link.tenant_id, link)


class Withdrawals(Repository[Withdrawal]):
    table = WITHDRAWALS
    resource = "withdrawal"

    def add(self, withdrawal: Withdrawal) -> None:
        self._insert(withdrawal.tenant_id, withdrawal)

    def get(self, tenant_id: str, withdrawal_id: str) -> Withdrawal | None:
        return self._get(tenant_id, tenant_id, withdrawal_id)

    def update(self, withdrawal: Withdrawal) -> None:
        self._update(withdrawal.tenant_id, withdrawal)

    def by_idempotency_key(self, tenant_id: str, key: str) -> Withdrawal | None:
        return self._doc(
            tenant_id,
            "SELECT doc FROM withdrawals WHERE tenant_id = %s AND idempotency_key = %s ORDER BY seq LIMIT 1",
            (tenant_id, key),
        )

    def by_provider_reference(self, provider: str, reference: str) -> Withdrawal | None:
        return self._doc(
            ALL_TENANTS,
            """SELECT doc FROM withdrawals WHERE provider = %s AND provider_reference = %s
               ORDER BY seq LIMIT 1 FOR NO KEY UPDATE""",
            (provider, reference),
        )

    def search(self, tenant_id: str, status: WithdrawalStatus | None, limit: int) -> Page[Withdrawal]:
        total, items = self._count_and_docs(
            tenant_id,
            WITHDRAWAL_SEARCH,
            {
                "tenant_id": tenant_id,
                "status": None if status is None else status.value,
                "offset": 0,
                "limit": limit,
            },
        )
        return Page(tuple(items), total)
