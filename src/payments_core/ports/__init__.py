"""Ports: what the core needs from the world, as Protocols. Adapters implement them.

The core receives implementations and never builds one; the composition root in `entrypoints`
chooses them (in-memory for tests and embedding, PostgreSQL, real providers).
"""

from payments_core.ports.ledger import LedgerStore
from payments_core.ports.providers import (
    CheckoutRequest,
    DirectPaymentRequest,
    DirectPaymentResult,
    DirectPaymentStatus,
    PaymentProvider,
    PayoutRequest,
    ProviderCheckout,
    ProviderEvent,
    ProviderEventType,
    ProviderReceipt,
    ReceiptStatus,
    RefundRequest,
)
from payments_core.ports.reconciliation import Progress, ReconciliationStore
from payments_core.ports.repositories import Page, UnitOfWork, UnitOfWorkFactory
from payments_core.ports.statements import StatementLine, StatementLineType, StatementSource
from payments_core.ports.system import Clock, IdGenerator, SecretBox, SecretGenerator, TotpVerifier

__all__ = [
    "CheckoutRequest",
    "Clock",
    "DirectPaymentRequest",
    "DirectPaymentResult",
    "DirectPaymentStatus",
    "IdGenerator",
    "LedgerStore",
    "Page",
    "PaymentProvider",
    "PayoutRequest",
    "Progress",
    "ProviderCheckout",
    "ProviderEvent",
    "ProviderEventType",
    "ProviderReceipt",
    "ReceiptStatus",
    "ReconciliationStore",
    "RefundRequest",
    "SecretBox",
    "SecretGenerator",
    "StatementLine",
    "StatementLineType",
    "StatementSource",
    "TotpVerifier",
    "UnitOfWork",
    "UnitOfWorkFactory",
]
