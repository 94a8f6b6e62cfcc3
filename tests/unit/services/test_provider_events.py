"""Inbound provider events: verified, applied once, and never lost when they arrive early."""

import json

import pytest

from payments_core.errors import Unauthenticated
from payments_core.model.integrations import ProviderEventRecord
from payments_core.money import Money
from payments_core.services import checkout, provider_events
from payments_core.services.provider_events import EventOutcome
from tests.support.core import make_core


def receive(core, webhook):
    return provider_events.receive_webhook(core.deps, "sandbox", webhook.headers, webhook.body)


def signed(core, payload):
    body = json.dumps(payload).encode()
    return core.sandbox.sign(body), body


def test_a_forged_webhook_is_refused_and_changes_nothing():
    core = make_core()
    session = checkout.create_session(core.deps, core.user("alice"), Money.parse("10.00", "KES"), "order-1")
    webhook = core.sandbox.complete_checkout(session.provider_reference)
    forged = webhook.body.replace(b"1000", b"1001")
    with pytest.raises(Unauthenticated):
        provider_events.receive_webhook(core.deps, "sandbox", webhook.headers, forged)
    assert core.wallet() == 0


def test_an_event_about_an_object_we_do_not_know_is_ignored_and_not_recorded():
    core = make_core()
    payload = {
        "id": "sbx_evt_early",
        "type": "payout.settled",
        "data": {"reference": "sbx_po_not_yet_saved", "amount": 100, "currency": "KES"},
    }
    headers, body = signed(core, payload)
    assert provider_events.receive_webhook(core.deps, "sandbox", headers, body) == [EventOutcome.IGNORED]
    record = ProviderEventRecord("sandbox", "sbx_evt_early", "payout.settled", "x", core.clock.now())
    with core.deps.uow() as uow:
        assert uow.provider_events.record(record), "the early event must stay applicable on retry"


def test_an_event_about_a_known_object_is_recorded_even_when_it_changes_nothing():
    core = make_core()
    session = checkout.create_session(core.deps, core.user("alice"), Money.parse("10.00", "KES"), "order-1")
    webhook = core.sandbox.complete_checkout(session.provider_reference)
    assert receive(core, webhook) == [EventOutcome.APPLIED]
    assert receive(core, webhook) == [EventOutcome.DUPLICATE]
    late_failure = {
        "id": "sbx_evt_late_fail",
        "type": "payment.failed",
        "data": {"reference": session.provider_reference, "amount": 1000, "currency": "KES"},
    }
    headers, body = signed(core, late_failure)
    assert provider_events.receive_webhook(core.deps, "sandbox", headers, body) == [EventOutcome.IGNORED]
    assert provider_events.receive_webhook(core.deps, "sandbox", headers, body) == [EventOutcome.DUPLICATE]
    assert core.wallet() == 975
    assert core.ledger_problems() == []
