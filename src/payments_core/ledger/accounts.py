"""Accounts: who holds what, in one currency, with four balances.

Invariants
- Every balance field is a non-negative integer of minor units no larger than `MAX_BALANCE`
  (the signed 64-bit range every store can hold).
- `debits_must_not_exceed_credits`: `debits_posted + debits_pending <= credits_posted`.
  Pending debits count, so a hold lowers what is available at once.
- `credits_must_not_exceed_debits`: `credits_posted + credits_pending <= debits_posted`.
- The two flags are exclusive: an account with both could never move.
- An account's balances are the fold of its entries (`payments_core.ledger.checks`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

import attrs

from payments_core.errors import (
    BalanceOverflow,
    CreditsExceedDebits,
    DomainError,
    InsufficientFunds,
    ValidationError,
)
from payments_core.money import Money, exponent_of

MAX_BALANCE: Final = 2**63 - 1
MAX_ID_LENGTH: Final = 128


class Side(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


class Bucket(StrEnum):
    PENDING = "pending"
    POSTED = "posted"


def check_identifier(kind: str, value: str) -> None:
    """Ids are short printable strings without whitespace; they end up in keys and URLs.

    `isprintable()` refuses every whitespace character but the space itself, so one search for a
    space finishes the job (a per-character loop here cost ~100 µs of every transfer)."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= MAX_ID_LENGTH
        or not value.isprintable()
        or " " in value
    ):
        raise ValidationError(f"{kind} must be 1 to {MAX_ID_LENGTH} printable characters", field=kind)


def _identifier(kind: str) -> attrs._ValidatorType[str]:
    def validate(_: object, __: attrs.Attribute[str], value: str) -> None:
        check_identifier(kind, value)

    return validate


def _non_negative_balance(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or value < 0:
        raise ValidationError(f"{attribute.name} must be a non-negative integer", field=attribute.name)
    if value > MAX_BALANCE:
        raise BalanceOverflow(f"{attribute.name} would overflow", field=attribute.name)


@attrs.frozen
class AccountFlags:
    debits_must_not_exceed_credits: bool = False
    credits_must_not_exceed_debits: bool = False

    def __attrs_post_init__(self) -> None:
        if self.debits_must_not_exceed_credits and self.credits_must_not_exceed_debits:
            raise ValidationError("an account cannot carry both balance flags")


NO_FLAGS: Final = AccountFlags()


@attrs.frozen
class Balances:
    debits_pending: int = attrs.field(default=0, validator=_non_negative_balance)
    debits_posted: int = attrs.field(default=0, validator=_non_negative_balance)
    credits_pending: int = attrs.field(default=0, validator=_non_negative_balance)
    credits_posted: int = attrs.field(default=0, validator=_non_negative_balance)

    def moved(self, side: Side, bucket: Bucket, delta: int) -> Balances:
        """A copy with `delta` (signed) added to one of the four fields."""
        name = f"{side.value}s_{bucket.value}"
        value = getattr(self, name) + delta
        if value > MAX_BALANCE:
            raise BalanceOverflow(f"{name} would overflow", field=name)
        if value < 0:
            raise ValidationError(f"{name} would become negative", field=name)
        return attrs.evolve(self, **{name: value})


ZERO_BALANCES: Final = Balances()


@attrs.frozen
class Account:
    id: str = attrs.field(validator=_identifier("account id"))
    tenant_id: str = attrs.field(validator=_identifier("tenant id"))
    code: str = attrs.field(validator=_identifier("account code"))
    currency: str = attrs.field(validator=lambda _, __, value: exponent_of(value))
    flags: AccountFlags = NO_FLAGS
    balances: Balances = ZERO_BALANCES

    @property
    def debits_pending(self) -> int:
        return self.balances.debits_pending

    @property
    def debits_posted(self) -> int:
        return self.balances.debits_posted

    @property
    def credits_pending(self) -> int:
        return self.balances.credits_pending

    @property
    def credits_posted(self) -> int:
        return self.balances.credits_posted

    def same_definition(self, other: Account) -> bool:
        """True when both describe the same account, whatever their balances."""
        return attrs.evolve(self, balances=ZERO_BALANCES) == attrs.evolve(other, balances=ZERO_BALANCES)

    def moved(self, side: Side, bucket: Bucket, delta: int) -> Account:
        return attrs.evolve(self, balances=self.balances.moved(side, bucket, delta))

    def available(self) -> Money:
        """What a credit-normal account (a wallet) may still spend: posted credits less all debits."""
        b = self.balances
        return Money(b.credits_posted - b.debits_posted - b.debits_pending, self.currency)

    def posted_credit_balance(self) -> Money:
        b = self.balances
        return Money(b.credits_posted - b.debits_posted, self.currency)

    def flag_violation(self, before: Account | None = None) -> DomainError | None:
        """The error these balances raise, or None when the flags hold.

        `before` is the account as it was ahead of the transfer: the error then reports what
        was available to spend, which is what a caller refused for lack of funds wants to know.
        """
        b = self.balances
        shown = (before or self).balances
        if (
            self.flags.debits_must_not_exceed_credits
            and b.debits_posted + b.debits_pending > b.credits_posted
        ):
            return InsufficientFunds(
                "insufficient funds",
                accountId=self.id,
                available=shown.credits_posted - shown.debits_posted - shown.debits_pending,
                currency=self.currency,
            )
        if (
            self.flags.credits_must_not_exceed_debits
            and b.credits_posted + b.credits_pending > b.debits_posted
        ):
            return CreditsExceedDebits(
                "credits would exceed debits", accountId=self.id, currency=self.currency
            )
        return None
