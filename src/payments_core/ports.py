"""Ports: what the core needs from the world, as Protocols. Adapters implement them.

The core receives implementations and never builds one; the composition root in
`entrypoints` chooses them (in-memory for tests and embedding, PostgreSQL, real providers).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Protocol, Self, TypeVar

import attrs

from payments_core.ledger import Account, Balances, Entry, Hold, Transfer, TransferRequest
from payments_core.money import Money

T = TypeVar("T")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class IdGenerator(Protocol):
    def new_id(self, prefix: str) -> str:
        """A fresh unique id such as `pay_…`; unguessable when it is a public handle."""
        ...


class SecretBox(Protocol):
    """Encrypts secrets (provider credentials, webhook secrets) at rest."""

    def seal(self, plaintext: str) -> str: ...

    def open(self, sealed: str) -> str: ...


class LedgerStore(Protocol):
    """Persists what `payments_core.ledger.plan` decides, atomically and durably.

    Every store gives identical answers to identical calls: the stateful tests run the same
    command sequences against each and compare.
    """

    def open_accounts(self, accounts: Sequence[Account]) -> None:
        """Create accounts; re-opening an identical account is a no-op, a different one a conflict."""
        ...

    def account(self, tenant_id: str, account_id: str) -> Account:
        """The account with its current balances; `AccountNotFound` in another tenant."""
        ...

    def accounts(self, tenant_id: str) -> list[Account]: ...

    def submit(self, request: TransferRequest) -> Transfer:
        """Apply one transfer; a replay of an identical request returns the first result."""
        ...

    def submit_many(self, requests: Sequence[TransferRequest]) -> list[Transfer]:
        """Apply many transfers as one unit: all of them, or none."""
        ...

    def transfer(self, tenant_id: str, transfer_id: str) -> Transfer:
        """`NotFound` when missing or in another tenant."""
        ...

    def hold(self, tenant_id: str, transfer_id: str) -> Hold: ...

    def expire_holds(self) -> list[Transfer]:
        """Release every hold whose expiry has passed; returns the expiry transfers."""
        ...

    def entries(self, tenant_id: str, account_id: str | None = None) -> list[Entry]:
        """The journal in the order it was written."""
        ...

    def balance_at(self, tenant_id: str, account_id: str, at: datetime) -> Balances:
        """An account's balances as of `at`, recomputed from its entries."""
        ...


class Repository(Protocol[T]):
    """Tenant-scoped storage of one aggregate: another tenant's id is simply not found."""

    def add(self, item: T) -> None: ...

    def get(self, tenant_id: str, item_id: str) -> T | None: ...

    def update(self, item: T) -> None: ...


class UnitOfWork(Protocol):
    """One atomic piece of work: everything inside commits together or not at all."""

    ledger: LedgerStore

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


@attrs.frozen
class OutboundEvent:
    """A webhook to a tenant, written in the same unit of work as the change it reports."""

    id: str
    tenant_id: str
    type: str
    data: Mapping[str, object]
    created_at: datetime


class WebhookOutbox(Protocol):
    def enqueue(self, event: OutboundEvent) -> None: ...


@attrs.frozen
class CheckoutRequest:
    tenant_id: str
    session_id: str
    amount: Money
    reference: str
    method_types: tuple[str, ...] = ()
    success_url: str | None = None
    cancel_url: str | None = None


@attrs.frozen
class ProviderCheckout:
    provider_reference: str
    redirect_url: str
    qr_image_url: str | None = None


@attrs.frozen
class PayoutRequest:
    tenant_id: str
    withdrawal_id: str
    amount: Money
    method_type: str
    method_details: Mapping[str, str]


@attrs.frozen
class RefundRequest:
    tenant_id: str
    refund_id: str
    provider_payment_reference: str
    amount: Money


@attrs.frozen
class ProviderReceipt:
    """A provider's acknowledgement of a request: its reference and the fields worth keeping."""

    provider_reference: str
    details: Mapping[str, str] = attrs.field(factory=dict)


class ProviderEventType(StrEnum):
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_EXPIRED = "payment.expired"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    PAYOUT_SETTLED = "payout.settled"
    PAYOUT_FAILED = "payout.failed"


@attrs.frozen
class ProviderEvent:
    """A verified, normalised event from a provider; `event_id` is unique per provider."""

    provider: str
    event_id: str
    type: ProviderEventType
    reference: str
    amount: Money | None
    occurred_at: datetime


class PaymentProvider(Protocol):
    name: str

    def start_checkout(self, request: CheckoutRequest) -> ProviderCheckout: ...

    def refund(self, request: RefundRequest) -> ProviderReceipt: ...

    def payout(self, request: PayoutRequest) -> ProviderReceipt: ...

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[ProviderEvent]:
        """Verify and normalise an inbound webhook; raises on a forged or stale signature."""
        ...


class StatementLineType(StrEnum):
    CHARGE = "charge"
    REFUND = "refund"
    PAYOUT = "payout"
    FEE = "fee"
    ADJUSTMENT = "adjustment"


@attrs.frozen
class StatementLine:
    """One normalised line of a provider's settlement statement."""

    line_number: int
    provider: str
    external_id: str
    type: StatementLineType
    gross: Money
    fee: Money
    net: Money
    occurred_at: datetime
    reference: str | None = None


class StatementSource(Protocol):
    def lines(self) -> Iterator[StatementLine]:
        """Stream the statement's lines; a malformed row raises with its line number."""
        ...
