"""Lifecycle state machines: the tables allow exactly what they list and refuse everything else."""

from __future__ import annotations

from collections import deque
from enum import StrEnum
from typing import Any

import pytest

from payments_core.errors import InvalidTransition, ValidationError
from payments_core.states import (
    ALL_MACHINES,
    CHECKOUT_SESSION,
    HOLD,
    PAYMENT,
    PAYMENT_LINK,
    REFUND,
    WEBHOOK_DELIVERY,
    WITHDRAWAL,
    CheckoutSessionStatus,
    DeliveryStatus,
    HoldStatus,
    PaymentLinkStatus,
    PaymentStatus,
    RefundStatus,
    StateMachine,
    WithdrawalStatus,
)


def _all_pairs() -> list[tuple[StateMachine[Any], StrEnum, StrEnum]]:
    return [
        (machine, current, target)
        for machine in ALL_MACHINES
        for current in sorted(machine.states())
        for target in sorted(machine.states())
    ]


def _pair_id(case: tuple[StateMachine[Any], StrEnum, StrEnum]) -> str:
    machine, current, target = case
    return f"{machine.name}:{current.value}->{target.value}"


ALLOWED = [case for case in _all_pairs() if case[2] in case[0].transitions.get(case[1], ())]
REFUSED = [case for case in _all_pairs() if case[2] not in case[0].transitions.get(case[1], ())]


# --- the tables, exhaustively ---------------------------------------------------------------


@pytest.mark.parametrize(("machine", "current", "target"), ALLOWED, ids=map(_pair_id, ALLOWED))
def test_every_transition_in_the_table_is_allowed_and_returns_the_target(
    machine: StateMachine[Any], current: StrEnum, target: StrEnum
) -> None:
    assert machine.can(current, target)
    assert machine.require(current, target) is target


@pytest.mark.parametrize(("machine", "current", "target"), REFUSED, ids=map(_pair_id, REFUSED))
def test_every_transition_not_in_the_table_raises_invalid_transition(
    machine: StateMachine[Any], current: StrEnum, target: StrEnum
) -> None:
    assert not machine.can(current, target)
    with pytest.raises(InvalidTransition) as raised:
        machine.require(current, target)
    assert raised.value.code == "INVALID_OPERATION"
    assert raised.value.details["currentStatus"] == current.value
    assert raised.value.details["targetStatus"] == target.value
    assert raised.value.machine == machine.name


def test_the_exhaustive_cases_cover_every_pair_of_every_machine() -> None:
    expected = sum(len(machine.states()) ** 2 for machine in ALL_MACHINES)
    assert len(ALLOWED) + len(REFUSED) == expected
    assert ALLOWED  # the tables are not empty


# --- hand-written cases from the seeds ------------------------------------------------------


def test_a_completed_payment_cannot_be_cancelled() -> None:
    with pytest.raises(InvalidTransition) as raised:
        PAYMENT.require(PaymentStatus.COMPLETED, PaymentStatus.CANCELLED)
    assert raised.value.details["currentStatus"] == "completed"


def test_a_pending_payment_cannot_be_refunded() -> None:
    for refund_state in (PaymentStatus.REFUNDED, PaymentStatus.PARTIALLY_REFUNDED):
        with pytest.raises(InvalidTransition) as raised:
            PAYMENT.require(PaymentStatus.PENDING, refund_state)
        assert raised.value.details["currentStatus"] == "pending"


def test_a_canceled_withdrawal_cannot_be_approved() -> None:
    # Approval moves a withdrawal from pending to processing.
    with pytest.raises(InvalidTransition) as raised:
        WITHDRAWAL.require(WithdrawalStatus.CANCELED, WithdrawalStatus.PROCESSING)
    assert raised.value.details["currentStatus"] == "canceled"
    assert raised.value.code == "INVALID_OPERATION"


def test_a_processing_withdrawal_can_no_longer_be_canceled() -> None:
    assert not WITHDRAWAL.can(WithdrawalStatus.PROCESSING, WithdrawalStatus.CANCELED)


def test_a_partially_refunded_payment_can_be_partially_refunded_again() -> None:
    assert (
        PAYMENT.require(PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.PARTIALLY_REFUNDED)
        is PaymentStatus.PARTIALLY_REFUNDED
    )


def test_a_refunded_payment_cannot_go_back_to_partially_refunded() -> None:
    assert not PAYMENT.can(PaymentStatus.REFUNDED, PaymentStatus.PARTIALLY_REFUNDED)


def test_a_retrying_webhook_delivery_can_retry_again() -> None:
    assert WEBHOOK_DELIVERY.can(DeliveryStatus.RETRYING, DeliveryStatus.RETRYING)


def test_only_a_failed_webhook_delivery_can_be_replayed() -> None:
    # A replay puts a dead letter back in the queue; a delivered event is never sent again.
    assert WEBHOOK_DELIVERY.require(DeliveryStatus.FAILED, DeliveryStatus.PENDING) is DeliveryStatus.PENDING
    for other in (DeliveryStatus.DELIVERED, DeliveryStatus.RETRYING, DeliveryStatus.PENDING):
        assert not WEBHOOK_DELIVERY.can(other, DeliveryStatus.PENDING)
    assert WEBHOOK_DELIVERY.allowed(DeliveryStatus.FAILED) == {DeliveryStatus.PENDING}


def test_a_resolved_hold_cannot_be_resolved_again() -> None:
    for resolved in (HoldStatus.POSTED, HoldStatus.VOIDED, HoldStatus.EXPIRED):
        for target in HOLD.states():
            assert not HOLD.can(resolved, target)


def test_an_inactive_payment_link_cannot_be_reactivated() -> None:
    assert not PAYMENT_LINK.can(PaymentLinkStatus.INACTIVE, PaymentLinkStatus.ACTIVE)


TERMINAL_STATES: list[tuple[StateMachine[Any], set[Any]]] = [
    (PAYMENT, {PaymentStatus.REFUNDED, PaymentStatus.FAILED, PaymentStatus.CANCELLED}),
    (
        CHECKOUT_SESSION,
        {
            CheckoutSessionStatus.COMPLETED,
            CheckoutSessionStatus.EXPIRED,
            CheckoutSessionStatus.CANCELLED,
        },
    ),
    (REFUND, {RefundStatus.SUCCEEDED, RefundStatus.FAILED}),
    (
        WITHDRAWAL,
        {WithdrawalStatus.COMPLETED, WithdrawalStatus.FAILED, WithdrawalStatus.CANCELED},
    ),
    (PAYMENT_LINK, {PaymentLinkStatus.INACTIVE}),
    (WEBHOOK_DELIVERY, {DeliveryStatus.DELIVERED}),
    (HOLD, {HoldStatus.POSTED, HoldStatus.VOIDED, HoldStatus.EXPIRED}),
]


@pytest.mark.parametrize(("machine", "terminal"), TERMINAL_STATES, ids=[m.name for m, _ in TERMINAL_STATES])
def test_terminal_states_are_exactly_the_listed_ones(machine: StateMachine[Any], terminal: set[Any]) -> None:
    assert {state for state in machine.states() if machine.is_terminal(state)} == terminal
    for state in terminal:
        assert machine.allowed(state) == frozenset()


def test_every_machine_has_its_terminal_states_listed() -> None:
    assert {machine.name for machine, _ in TERMINAL_STATES} == {m.name for m in ALL_MACHINES}


# --- the enums: published strings -----------------------------------------------------------


@pytest.mark.parametrize(
    ("enum_type", "values"),
    [
        (
            PaymentStatus,
            {"pending", "completed", "failed", "cancelled", "partially_refunded", "refunded"},
        ),
        (CheckoutSessionStatus, {"pending", "completed", "expired", "cancelled"}),
        (RefundStatus, {"pending", "succeeded", "failed"}),
        (WithdrawalStatus, {"pending", "processing", "completed", "failed", "canceled"}),
        (PaymentLinkStatus, {"active", "inactive"}),
        (DeliveryStatus, {"pending", "delivered", "retrying", "failed"}),
        (HoldStatus, {"pending", "posted", "voided", "expired"}),
    ],
)
def test_status_values_are_the_published_strings(enum_type: type[StrEnum], values: set[str]) -> None:
    assert {member.value for member in enum_type} == values


@pytest.mark.parametrize(
    ("machine", "initial"),
    [
        (PAYMENT, PaymentStatus.PENDING),
        (CHECKOUT_SESSION, CheckoutSessionStatus.PENDING),
        (REFUND, RefundStatus.PENDING),
        (WITHDRAWAL, WithdrawalStatus.PENDING),
        (PAYMENT_LINK, PaymentLinkStatus.ACTIVE),
        (WEBHOOK_DELIVERY, DeliveryStatus.PENDING),
        (HOLD, HoldStatus.PENDING),
    ],
    ids=lambda value: getattr(value, "name", str(value)),
)
def test_each_machine_starts_in_its_initial_state(machine: StateMachine[Any], initial: StrEnum) -> None:
    enum_type: type[StrEnum] = type(initial)
    assert machine.initial is initial
    assert machine.states() == frozenset(enum_type)


def test_all_machines_lists_each_machine_once_under_a_distinct_name() -> None:
    assert len(ALL_MACHINES) == 7
    assert len({machine.name for machine in ALL_MACHINES}) == len(ALL_MACHINES)
    assert len({type(machine.initial) for machine in ALL_MACHINES}) == len(ALL_MACHINES)


@pytest.mark.parametrize("machine", ALL_MACHINES, ids=lambda m: m.name)
def test_every_state_is_reachable_from_the_initial_state(machine: StateMachine[Any]) -> None:
    seen = {machine.initial}
    queue = deque([machine.initial])
    while queue:
        for target in machine.transitions.get(queue.popleft(), ()):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    assert seen == set(machine.states())


# --- construction and misuse ----------------------------------------------------------------


def test_the_table_is_a_frozen_copy_of_what_was_passed() -> None:
    source = {RefundStatus.PENDING: {RefundStatus.SUCCEEDED}}
    machine = StateMachine("refund", RefundStatus.PENDING, source)
    source[RefundStatus.PENDING].add(RefundStatus.FAILED)
    source[RefundStatus.SUCCEEDED] = {RefundStatus.PENDING}
    assert not machine.can(RefundStatus.PENDING, RefundStatus.FAILED)
    assert machine.is_terminal(RefundStatus.SUCCEEDED)
    with pytest.raises(TypeError):
        machine.transitions[RefundStatus.FAILED] = frozenset()  # type: ignore[index]


def test_a_table_naming_a_state_of_another_enum_is_refused() -> None:
    with pytest.raises(ValidationError):
        StateMachine(
            "refund",
            RefundStatus.PENDING,
            {RefundStatus.PENDING: {PaymentStatus.FAILED}},
        )


def test_a_table_keyed_by_a_bare_string_is_refused() -> None:
    with pytest.raises(ValidationError):
        StateMachine("refund", RefundStatus.PENDING, {"pending": {RefundStatus.FAILED}})


def test_a_state_of_another_enum_with_the_same_value_is_refused_not_confused() -> None:
    # StrEnums compare equal to their value, so RefundStatus.PENDING == PaymentStatus.PENDING.
    with pytest.raises(ValidationError):
        PAYMENT.can(RefundStatus.PENDING, PaymentStatus.COMPLETED)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        REFUND.require(RefundStatus.PENDING, PaymentStatus.FAILED)  # type: ignore[arg-type]


def test_a_machine_is_immutable() -> None:
    with pytest.raises(AttributeError):
        PAYMENT.initial = PaymentStatus.COMPLETED  # type: ignore[misc]
