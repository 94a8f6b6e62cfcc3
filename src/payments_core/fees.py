"""Fee rules: what the platform keeps from a payment, a refund or a withdrawal. Never a float.

Invariants
- Every quote satisfies `fee + net == gross` and `0 <= fee <= gross`, all in the gross's
  currency: a fee never makes a net amount negative.
- Fees are integers of minor units. The one rounding is half up, on the percentage part:
  `pct = (gross.minor * basis_points + 5_000) // 10_000`; then `fee = flat + pct`, raised to the
  rule's minimum, lowered to its maximum (if any) and finally to the gross.
- A rule for `ANY` currency carries no amount (flat, minimum, maximum, minimum operation):
  amounts only mean something in one currency.
- A schedule holds at most one rule per (operation, method, currency); the most specific one
  wins: (method, currency) > (method, ANY) > (ANY, currency) > (ANY, ANY).
- A tenant's schedule falls back to the platform default rule by rule, never as a whole.
- Fee shares given back on partial refunds are cumulative pro rata, so they add up to exactly
  the payment's fee once it is fully refunded, whatever the sequence of refunds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

import attrs

from payments_core.errors import CurrencyMismatch, InvalidAmount, ValidationError
from payments_core.money import MAX_MINOR, Money, exponent_of


class FeeOperation(StrEnum):
    PAYMENT = "payment"
    REFUND = "refund"
    WITHDRAWAL = "withdrawal"


ANY: Final = "*"  # wildcard for a rule's method or currency

_MAX_BASIS_POINTS: Final = 10_000


def _to_operation(value: str) -> FeeOperation:
    """Accept the wire form ("withdrawal") as well as the enum; refuse anything else."""
    try:
        return FeeOperation(value)
    except ValueError:
        allowed = sorted(op.value for op in FeeOperation)
        raise ValidationError("unknown fee operation", value=repr(value), allowed=allowed) from None


def _check_currency(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value != ANY:
        exponent_of(value)


def _check_method(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value or value != value.strip():
        raise ValidationError("method must be a non-empty name", field=attribute.name)


def _int_between(high: int, error: type[ValidationError], *, optional: bool = False) -> Any:
    """A real int (a bool or a float is a bug upstream) from 0 to `high`."""

    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        is_int = type(value) is int and 0 <= value <= high
        if not (is_int or (optional and value is None)):
            message = f"must be a whole number from 0 to {high}"
            raise error(message, field=attribute.name, value=repr(value))

    return check


_check_minor: Final = _int_between(MAX_MINOR, InvalidAmount)
_check_optional_minor: Final = _int_between(MAX_MINOR, InvalidAmount, optional=True)
_check_basis_points: Final = _int_between(_MAX_BASIS_POINTS, ValidationError)


def _require_money(*amounts: object) -> None:
    if not all(isinstance(amount, Money) for amount in amounts):
        raise ValidationError("amounts must be Money")


def _instance_of(kind: type, *, optional: bool = False) -> Any:
    """Like `attrs.validators.instance_of`, but raising the domain's `ValidationError`."""

    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not (isinstance(value, kind) or (optional and value is None)):
            raise ValidationError(f"must be a {kind.__name__}", field=attribute.name)

    return check


def _require_currency(rule_currency: str, money: Money) -> None:
    if rule_currency not in (ANY, money.currency):
        raise CurrencyMismatch(
            f"a {rule_currency} fee rule cannot price {money.currency}",
            currencies=sorted({rule_currency, money.currency}),
        )


@attrs.frozen
class FeeRule:
    """One operation's fee for a method and currency: flat + basis points, clamped."""

    operation: FeeOperation = attrs.field(converter=_to_operation)
    currency: str = attrs.field(default=ANY, validator=_check_currency)
    method: str = attrs.field(default=ANY, validator=_check_method)
    flat_minor: int = attrs.field(default=0, validator=_check_minor)
    basis_points: int = attrs.field(default=0, validator=_check_basis_points)
    minimum_minor: int = attrs.field(default=0, validator=_check_minor)
    maximum_minor: int | None = attrs.field(default=None, validator=_check_optional_minor)
    minimum_operation_minor: int = attrs.field(default=0, validator=_check_minor)
    returns_fee_on_refund: bool = attrs.field(default=False, validator=_instance_of(bool))

    def __attrs_post_init__(self) -> None:
        if self.maximum_minor is not None and self.maximum_minor < self.minimum_minor:
            raise InvalidAmount("maximum fee is below the minimum fee", field="maximum_minor")
        amounts = (self.flat_minor, self.minimum_minor, self.minimum_operation_minor)
        if self.currency == ANY and (any(amounts) or self.maximum_minor is not None):
            message = "a rule for any currency cannot carry amounts: they are currency-specific"
            raise ValidationError(message, operation=self.operation.value, method=self.method)
        if self.returns_fee_on_refund and self.operation is not FeeOperation.PAYMENT:
            raise ValidationError(
                "only a payment's fee can be returned on refund", operation=self.operation.value
            )

    @property
    def key(self) -> tuple[FeeOperation, str, str]:
        return (self.operation, self.method, self.currency)

    def quote(self, gross: Money) -> FeeQuote:
        """The fee on `gross`; refuses amounts below the rule's minimum operation."""
        _require_money(gross)
        gross.require_positive()
        _require_currency(self.currency, gross)
        if gross.minor < self.minimum_operation_minor:
            minimum = Money(self.minimum_operation_minor, gross.currency)
            raise InvalidAmount(
                f"the minimum {self.operation.value} by {self.method} is {minimum}",
                minimum=minimum.to_major_string(),
                currency=gross.currency,
            )
        fee = min(self.uncapped_fee(gross), gross)
        return FeeQuote(gross, fee, gross - fee, self)

    def uncapped_fee(self, gross: Money) -> Money:
        """The rule's fee before it is capped at the gross: what to tell a caller whose
        amount does not even cover it."""
        pct = (gross.minor * self.basis_points + _MAX_BASIS_POINTS // 2) // _MAX_BASIS_POINTS
        minor = max(self.flat_minor + pct, self.minimum_minor)
        if self.maximum_minor is not None:
            minor = min(minor, self.maximum_minor)
        return Money(minor, gross.currency)


@attrs.frozen
class FeeQuote:
    """A priced operation; its invariant holds by construction, so callers can post it as is."""

    gross: Money = attrs.field(validator=_instance_of(Money))
    fee: Money = attrs.field(validator=_instance_of(Money))
    net: Money = attrs.field(validator=_instance_of(Money))
    rule: FeeRule | None = attrs.field(validator=_instance_of(FeeRule, optional=True))

    def __attrs_post_init__(self) -> None:
        if self.fee + self.net != self.gross:  # `+` raises CurrencyMismatch first
            raise InvalidAmount("fee + net must equal gross", currency=self.gross.currency)
        if not 0 <= self.fee.minor <= self.gross.minor:
            raise InvalidAmount("fee must be between 0 and gross", currency=self.gross.currency)
        if self.rule is not None:
            _require_currency(self.rule.currency, self.gross)


def _check_unique_rules(_: object, __: attrs.Attribute[Any], rules: tuple[FeeRule, ...]) -> None:
    seen: set[tuple[FeeOperation, str, str]] = set()
    for rule in rules:
        if not isinstance(rule, FeeRule):
            raise ValidationError("a fee schedule holds only fee rules")
        if rule.key in seen:
            op, method, currency = rule.key
            message = "two fee rules for the same operation, method and currency"
            raise ValidationError(message, operation=op.value, method=method, currency=currency)
        seen.add(rule.key)


def _to_rules(rules: Iterable[FeeRule]) -> tuple[FeeRule, ...]:
    return tuple(rules)


@attrs.frozen
class FeeSchedule:
    """A set of rules, at most one per key, so that a lookup is never ambiguous."""

    rules: tuple[FeeRule, ...] = attrs.field(converter=_to_rules, validator=_check_unique_rules)

    def find(self, operation: FeeOperation, method: str, currency: str) -> FeeRule | None:
        """The most specific rule for the operation, or None: the operation is free."""
        exponent_of(currency)
        by_key = {rule.key: rule for rule in self.rules}
        keys = [(operation, m, c) for m, c in ((method, currency), (method, ANY), (ANY, currency))]
        return next((by_key[k] for k in keys if k in by_key), by_key.get((operation, ANY, ANY)))

    def quote(self, operation: FeeOperation, method: str, gross: Money) -> FeeQuote:
        _require_money(gross)
        return _quote(self.find(operation, method, gross.currency), gross)

    def rules_for(self, operation: FeeOperation, currency: str) -> tuple[FeeRule, ...]:
        """The rules in force for that currency, in rule order; shadowed rules are left out."""
        return tuple(
            rule
            for rule in self.rules
            if rule.operation == operation
            and rule.currency in (currency, ANY)
            and self.find(operation, rule.method, currency) is rule
        )

    def methods(self, operation: FeeOperation, currency: str) -> tuple[str, ...]:
        """Concrete methods offered for that currency, e.g. the withdrawal options."""
        return tuple(rule.method for rule in self.rules_for(operation, currency) if rule.method != ANY)


def _quote(rule: FeeRule | None, gross: Money) -> FeeQuote:
    """No rule means nothing is kept, but the gross must still be a real amount."""
    if rule is not None:
        return rule.quote(gross)
    gross.require_positive()
    return FeeQuote(gross, Money.zero(gross.currency), gross, None)


def _freeze_schedules(value: Mapping[str, FeeSchedule]) -> Mapping[str, FeeSchedule]:
    """A checked read-only copy, so that a frozen policy cannot change under its users."""
    if not isinstance(value, Mapping) or not all(
        isinstance(tenant_id, str) and tenant_id and isinstance(schedule, FeeSchedule)
        for tenant_id, schedule in value.items()
    ):
        raise ValidationError("tenant schedules must map tenant ids to fee schedules")
    return MappingProxyType(dict(value))


@attrs.frozen
class FeePolicy:
    """A tenant's own schedule falls back to the platform default, rule by rule."""

    platform_default: FeeSchedule = attrs.field(validator=_instance_of(FeeSchedule))
    tenant_schedules: Mapping[str, FeeSchedule] = attrs.field(
        factory=dict, converter=_freeze_schedules, hash=False
    )

    def find(self, tenant_id: str, operation: FeeOperation, method: str, currency: str) -> FeeRule | None:
        schedule = self.tenant_schedules.get(tenant_id)
        rule = schedule.find(operation, method, currency) if schedule is not None else None
        return rule if rule is not None else self.platform_default.find(operation, method, currency)

    def quote(self, tenant_id: str, operation: FeeOperation, method: str, gross: Money) -> FeeQuote:
        _require_money(gross)
        return _quote(self.find(tenant_id, operation, method, gross.currency), gross)

    def with_tenant_schedule(self, tenant_id: str, schedule: FeeSchedule) -> FeePolicy:
        """A new policy; this one is unchanged."""
        return attrs.evolve(self, tenant_schedules={**self.tenant_schedules, tenant_id: schedule})


def _round_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def refund_fee_share(
    payment_fee: Money, payment_gross: Money, refunded_before: Money, refund: Money
) -> Money:
    """The part of the payment's fee given back with this refund when the rule returns fees.

    Cumulative pro rata, rounded half up: share = round(fee * (before + refund) / gross)
    - round(fee * before / gross), so that the shares of any sequence of partial refunds add
    up to exactly the fee once the payment is fully refunded.
    """
    amounts = (payment_fee, payment_gross, refunded_before, refund)
    _require_money(*amounts)
    currencies = sorted({amount.currency for amount in amounts})
    if len(currencies) > 1:
        raise CurrencyMismatch("a refund's amounts must share one currency", currencies=currencies)
    currency = payment_gross.currency
    refund.require_positive()
    if refunded_before.minor < 0:
        raise InvalidAmount("amount refunded before cannot be negative", currency=currency)
    if not 0 <= payment_fee.minor <= payment_gross.minor:
        raise InvalidAmount("payment fee must be between 0 and gross", currency=currency)
    after = refunded_before.minor + refund.minor
    if after > payment_gross.minor:
        left = Money(payment_gross.minor - refunded_before.minor, currency).to_major_string()
        raise InvalidAmount("refunds cannot exceed the payment", maximum=left, currency=currency)
    fee, gross = payment_fee.minor, payment_gross.minor
    share = _round_half_up(fee * after, gross) - _round_half_up(fee * refunded_before.minor, gross)
    return Money(share, currency)


_WITHDRAWAL: Final = FeeOperation.WITHDRAWAL
DEFAULT_WITHDRAWAL_RULES: Final[tuple[FeeRule, ...]] = (
    FeeRule(_WITHDRAWAL, "KES", "mpesa", flat_minor=3300, minimum_operation_minor=1000),
    FeeRule(_WITHDRAWAL, "KES", "till", flat_minor=2700, minimum_operation_minor=1000),
    FeeRule(_WITHDRAWAL, "KES", "bank_transfer", flat_minor=5000, minimum_operation_minor=10000),
)
"""The reference withdrawal fees (KES): flat, with a minimum amount per method."""

DEFAULT_PAYMENT_RULE: Final = FeeRule(FeeOperation.PAYMENT, basis_points=250)
"""2.5% of any payment, any method, any currency; kept on refund."""

PLATFORM_DEFAULT_SCHEDULE: Final = FeeSchedule((*DEFAULT_WITHDRAWAL_RULES, DEFAULT_PAYMENT_RULE))
