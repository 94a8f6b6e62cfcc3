"""Lifecycle state machines: each is a table from a state to the states it may move to.

Invariants
- A machine is data: `transitions` maps a state to the frozen set of its successors and is
  stored as a read-only copy, so no caller can widen it after construction.
- Every state named in a table (key or successor) and the initial state are members of one
  `StrEnum`; a state of another enum, or a bare string, is refused with `ValidationError`.
- A state absent from the table, or mapped to the empty set, is terminal: nothing moves it.
- `require` is the only gate: it returns the target when the table allows the move and raises
  `InvalidTransition` (code `INVALID_OPERATION`, `details['currentStatus']`) otherwise, so a
  refused move never changes anything.
- Enum values are the exact strings the API and the stores use; they never change once published.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Generic, TypeVar

import attrs

from payments_core.errors import InvalidTransition, ValidationError

S = TypeVar("S", bound=StrEnum)


def _freeze_table(table: Mapping[Any, Iterable[Any]]) -> Mapping[Any, frozenset[Any]]:
    """Copy into a read-only mapping so the table outlives no caller's mutation."""
    return MappingProxyType({state: frozenset(targets) for state, targets in table.items()})


def _check_initial(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, StrEnum):
        raise ValidationError("initial state must be a StrEnum member", initial=repr(value))


def _check_table(
    instance: StateMachine[Any], _: attrs.Attribute[Any], value: Mapping[Any, frozenset[Any]]
) -> None:
    """Reject a table that names a state outside the machine's enum: it could never be reached."""
    enum_type = type(instance.initial)
    for state, targets in value.items():
        for named in (state, *targets):
            if type(named) is not enum_type:
                raise ValidationError(
                    f"{instance.name} table names a state outside {enum_type.__name__}",
                    machine=instance.name,
                    state=repr(named),
                )


def _check_name(_: object, __: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValidationError("machine name must be a non-empty string")


@attrs.frozen
class StateMachine(Generic[S]):
    """A named transition table over one StrEnum; the enum's members are all its states."""

    name: str = attrs.field(validator=_check_name)
    initial: S = attrs.field(validator=_check_initial)
    transitions: Mapping[S, frozenset[S]] = attrs.field(converter=_freeze_table, validator=_check_table)

    def _member(self, state: object) -> S:
        """Refuse a foreign state: StrEnums compare equal to their value, across enums too."""
        enum_type = type(self.initial)
        if type(state) is not enum_type:
            raise ValidationError(
                f"{self.name} has no state {state!r}",
                machine=self.name,
                allowedValues=sorted(member.value for member in enum_type),
            )
        return state

    def states(self) -> frozenset[S]:
        """Every member of the enum, reachable or not."""
        return frozenset(type(self.initial))

    def allowed(self, current: S) -> frozenset[S]:
        """The states `current` may move to; empty when `current` is terminal."""
        return self.transitions.get(self._member(current), frozenset())

    def can(self, current: S, target: S) -> bool:
        return self._member(target) in self.allowed(current)

    def require(self, current: S, target: S) -> S:
        """Return `target` if the table allows the move, else raise `InvalidTransition`."""
        if not self.can(current, target):
            raise InvalidTransition(self.name, current.value, target.value)
        return target

    def is_terminal(self, state: S) -> bool:
        """No outgoing transition: the object's lifecycle is over."""
        return not self.allowed(state)


class PaymentStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class CheckoutSessionStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WithdrawalStatus(StrEnum):
    """`canceled` has one "l": the withdrawal API spells it so, unlike payments."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


class PaymentLinkStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class DeliveryStatus(StrEnum):
    """An outbound webhook delivery."""

    PENDING = "pending"
    DELIVERED = "delivered"
    RETRYING = "retrying"
    FAILED = "failed"


class HoldStatus(StrEnum):
    """A ledger two-phase hold: it resolves exactly once."""

    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    EXPIRED = "expired"


# A partially refunded payment may be refunded in part again, until refunded in full.
PAYMENT: StateMachine[PaymentStatus] = StateMachine(
    name="payment",
    initial=PaymentStatus.PENDING,
    transitions={
        PaymentStatus.PENDING: {
            PaymentStatus.COMPLETED,
            PaymentStatus.FAILED,
            PaymentStatus.CANCELLED,
        },
        PaymentStatus.COMPLETED: {PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED},
        PaymentStatus.PARTIALLY_REFUNDED: {
            PaymentStatus.PARTIALLY_REFUNDED,
            PaymentStatus.REFUNDED,
        },
    },
)

CHECKOUT_SESSION: StateMachine[CheckoutSessionStatus] = StateMachine(
    name="checkout_session",
    initial=CheckoutSessionStatus.PENDING,
    transitions={
        CheckoutSessionStatus.PENDING: {
            CheckoutSessionStatus.COMPLETED,
            CheckoutSessionStatus.EXPIRED,
            CheckoutSessionStatus.CANCELLED,
        },
    },
)

REFUND: StateMachine[RefundStatus] = StateMachine(
    name="refund",
    initial=RefundStatus.PENDING,
    transitions={RefundStatus.PENDING: {RefundStatus.SUCCEEDED, RefundStatus.FAILED}},
)

# Only a pending withdrawal can be canceled; once processing, the provider decides.
WITHDRAWAL: StateMachine[WithdrawalStatus] = StateMachine(
    name="withdrawal",
    initial=WithdrawalStatus.PENDING,
    transitions={
        WithdrawalStatus.PENDING: {WithdrawalStatus.PROCESSING, WithdrawalStatus.CANCELED},
        WithdrawalStatus.PROCESSING: {WithdrawalStatus.COMPLETED, WithdrawalStatus.FAILED},
    },
)

PAYMENT_LINK: StateMachine[PaymentLinkStatus] = StateMachine(
    name="payment_link",
    initial=PaymentLinkStatus.ACTIVE,
    transitions={PaymentLinkStatus.ACTIVE: {PaymentLinkStatus.INACTIVE}},
)

# Retrying may repeat: each failed attempt schedules another until delivered or given up. A failed
# delivery is a dead letter that a person may replay (back to pending); a delivered one is final.
WEBHOOK_DELIVERY: StateMachine[DeliveryStatus] = StateMachine(
    name="webhook_delivery",
    initial=DeliveryStatus.PENDING,
    transitions={
        DeliveryStatus.PENDING: {
            DeliveryStatus.DELIVERED,
            DeliveryStatus.RETRYING,
            DeliveryStatus.FAILED,
        },
        DeliveryStatus.RETRYING: {
            DeliveryStatus.RETRYING,
            DeliveryStatus.DELIVERED,
            DeliveryStatus.FAILED,
        },
        DeliveryStatus.FAILED: {DeliveryStatus.PENDING},
    },
)

HOLD: StateMachine[HoldStatus] = StateMachine(
    name="hold",
    initial=HoldStatus.PENDING,
    transitions={HoldStatus.PENDING: {HoldStatus.POSTED, HoldStatus.VOIDED, HoldStatus.EXPIRED}},
)

ALL_MACHINES: tuple[StateMachine[Any], ...] = (
    PAYMENT,
    CHECKOUT_SESSION,
    REFUND,
    WITHDRAWAL,
    PAYMENT_LINK,
    WEBHOOK_DELIVERY,
    HOLD,
)
