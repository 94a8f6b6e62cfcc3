"""Database errors turned into the core's domain errors: no psycopg exception leaves an adapter.

The ledger's SQL functions raise SQLSTATE P0001 with the domain error code as the message, JSON
details and the human message as the hint; everything else a bad value can cause is a
validation error; anything left is re-raised for the caller's generic 500 handling.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg

from payments_core import errors as domain
from payments_core.ledger import AccountNotFound

_BY_CODE: dict[str, type[domain.DomainError]] = {
    "INSUFFICIENT_FUNDS": domain.InsufficientFunds,
    "CREDITS_EXCEED_DEBITS": domain.CreditsExceedDebits,
    "BALANCE_OVERFLOW": domain.BalanceOverflow,
    "PENDING_TRANSFER_NOT_FOUND": domain.PendingTransferNotFound,
    "PENDING_TRANSFER_ALREADY_RESOLVED": domain.PendingTransferAlreadyResolved,
    "PENDING_TRANSFER_EXPIRED": domain.PendingTransferExpired,
    "EXCEEDS_PENDING_AMOUNT": domain.ExceedsPendingAmount,
    "IDEMPOTENCY_CONFLICT": domain.IdempotencyConflict,
    "CURRENCY_MISMATCH": domain.CurrencyMismatch,
    "INVALID_PARAMETER": domain.ValidationError,
    "RESOURCE_NOT_FOUND": AccountNotFound,
    "APPEND_ONLY": domain.InvalidOperation,
    "UNBALANCED_TRANSFER": domain.InvalidOperation,
}


def domain_error(error: pg.RaiseException) -> domain.DomainError:
    code = error.diag.message_primary or ""
    details: dict[str, Any] = json.loads(error.diag.message_detail or "{}")
    message = error.diag.message_hint or code.lower()
    kind = _BY_CODE.get(code, domain.InvalidOperation)
    return kind(message, **details)


@contextmanager
def translated() -> Iterator[None]:
    """Run database work; raise domain errors instead of psycopg's."""
    try:
        yield
    except pg.RaiseException as error:
        raise domain_error(error) from None
    except (pg.StringDataRightTruncation, pg.CharacterNotInRepertoire, pg.UntranslatableCharacter) as error:
        raise domain.ValidationError("a value is not acceptable text", reason=type(error).__name__) from None
    except (pg.NumericValueOutOfRange, pg.InvalidTextRepresentation, pg.InvalidParameterValue) as error:
        raise domain.ValidationError("a value is out of range", reason=type(error).__name__) from None
    except pg.CheckViolation as error:
        raise domain.InvalidOperation(
            "the change would break a rule of the ledger", constraint=error.diag.constraint_name or ""
        ) from None
    except psycopg.DataError as error:
        raise domain.ValidationError("a value is not acceptable", reason=type(error).__name__) from None
