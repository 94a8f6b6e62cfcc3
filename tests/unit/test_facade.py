"""The embedding facade exposes every use case with its ports bound, and nothing else."""

import pytest

from payments_core.facade import PaymentsCore, use_cases
from payments_core.money import Money
from payments_core.services import context, wallet
from tests.support.core import make_core


def test_a_modules_use_cases_are_its_public_functions_taking_deps():
    assert set(use_cases(wallet)) >= {"initiate_withdrawal", "approve_withdrawal", "list_withdrawals"}
    assert "apply_payout_event" not in use_cases(wallet)  # takes a unit of work, not deps
    assert use_cases(context) == ()  # helpers, not use cases


def test_every_resource_of_the_facade_is_bound_to_the_same_ports():
    core = PaymentsCore(make_core().deps)
    resources = [value for name, value in vars(core).items() if name != "deps"]
    assert len(resources) == 19
    assert all(dir(resource) for resource in resources)


def test_bound_use_cases_are_called_without_deps():
    made = make_core()
    core = PaymentsCore(made.deps)
    alice = made.user("alice")
    session = core.checkout.create_session(alice, Money.parse("5.00", "KES"), "order-1")
    assert core.checkout.get_session(alice, session.id).session == session


def test_unknown_and_private_names_are_not_exposed():
    core = PaymentsCore(make_core().deps)
    with pytest.raises(AttributeError):
        _ = core.wallet.not_a_use_case
    with pytest.raises(AttributeError):
        _ = core.wallet._settle
