"""Domain errors, each with the stable code the API documents use.

The core raises these and only these; the HTTP edge maps a code to a status and a localized
message, the CLI maps it to an exit code. A code never changes once published: clients branch
on it. `details` carries machine-readable facts (the current status, the allowed values), never
a secret, a stack trace or SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every error the core raises on purpose."""

    code: ClassVar[str] = "INVALID_OPERATION"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: Mapping[str, Any] = details

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r}, details={dict(self.details)!r})"


class ValidationError(DomainError):
    """Input that can never be valid, whatever the state: a bad field, a malformed value."""

    code = "INVALID_PARAMETER"


class InvalidAmount(ValidationError):
    """Zero, negative, over-precise, absurdly large or below the operation's minimum."""

    code = "INVALID_AMOUNT"


class UnknownCurrency(ValidationError):
    code = "INVALID_CURRENCY"


class CurrencyMismatch(ValidationError):
    """Two amounts in different currencies met where one currency is required."""

    code = "CURRENCY_MISMATCH"


class InvalidOperation(DomainError):
    """The request is well formed but the object's state forbids it."""

    code = "INVALID_OPERATION"


class InvalidTransition(InvalidOperation):
    """A state machine refused a transition; `details['currentStatus']` says where it stands."""

    def __init__(self, machine: str, current: str, target: str) -> None:
        super().__init__(
            f"{machine} cannot move from {current} to {target}",
            currentStatus=current,
            targetStatus=target,
        )
        self.machine = machine
        self.current = current
        self.target = target


class InsufficientFunds(InvalidOperation):
    """An account flagged `debits_must_not_exceed_credits` would go below zero."""

    code = "INSUFFICIENT_FUNDS"


class CreditsExceedDebits(InvalidOperation):
    """An account flagged `credits_must_not_exceed_debits` would go above its debits."""

    code = "CREDITS_EXCEED_DEBITS"


class BalanceOverflow(InvalidOperation):
    """A balance would leave the 64-bit range every store must be able to hold."""

    code = "BALANCE_OVERFLOW"


class PendingTransferNotFound(InvalidOperation):
    code = "PENDING_TRANSFER_NOT_FOUND"


class PendingTransferAlreadyResolved(InvalidOperation):
    """A hold was already posted, voided or expired: it resolves exactly once."""

    code = "PENDING_TRANSFER_ALREADY_RESOLVED"


class PendingTransferExpired(InvalidOperation):
    code = "PENDING_TRANSFER_EXPIRED"


class ExceedsPendingAmount(InvalidAmount):
    """Posting more than a hold reserved."""

    code = "EXCEEDS_PENDING_AMOUNT"


class IdempotencyConflict(DomainError):
    """An id (transfer id, idempotency key) was reused with different content."""

    code = "IDEMPOTENCY_CONFLICT"


class NotFound(DomainError):
    """Missing, or owned by another tenant: the two are indistinguishable on purpose."""

    code = "RESOURCE_NOT_FOUND"


class InsufficientPermissions(DomainError):
    code = "INSUFFICIENT_PERMISSIONS"


class FourEyesViolation(InsufficientPermissions):
    """The approver of a withdrawal is its initiator, or not a person at all."""

    code = "FOUR_EYES_VIOLATION"


class MfaChallengeRequired(DomainError):
    code = "MFA_CHALLENGE_REQUIRED"


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class ProviderUnavailable(DomainError):
    code = "PROVIDER_UNAVAILABLE"


ALL_CODES: frozenset[str] = frozenset(
    cls.code
    for cls in (
        DomainError,
        ValidationError,
        InvalidAmount,
        UnknownCurrency,
        CurrencyMismatch,
        InvalidOperation,
        InsufficientFunds,
        CreditsExceedDebits,
        BalanceOverflow,
        PendingTransferNotFound,
        PendingTransferAlreadyResolved,
        PendingTransferExpired,
        ExceedsPendingAmount,
        IdempotencyConflict,
        NotFound,
        InsufficientPermissions,
        FourEyesViolation,
        MfaChallengeRequired,
        Unauthenticated,
        ProviderUnavailable,
    )
)
