"""Outbound webhooks: fan-out, signed delivery, retries with backoff and the 3-day dead letter.

Runs on both stores (tests/unit/services/conftest.py), with a scripted fake sender.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from payments_core.services.deliveries import (
    EVENT_ID_HEADER,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    DeliveryDeps,
    deliver_due,
    fan_out,
    retry_delay,
    signature_header,
    work_once,
)
from payments_core.services.webhooks import delete_endpoint, send_test_event
from payments_core.states import DeliveryStatus
from tests.support.core import T0, Core, make_core
from tests.support.deliveries import (
    OTHER_URL,
    URL,
    FakeSender,
    all_deliveries,
    delivery_deps,
    endpoint,
    event,
    only,
    receiver_accepts,
    signature_values,
)


@pytest.fixture
def core() -> Core:
    return make_core()


@pytest.fixture
def sender() -> FakeSender:
    return FakeSender(200)


@pytest.fixture
def deps(core: Core, sender: FakeSender) -> DeliveryDeps:
    return delivery_deps(core, sender)


# --- fan-out ------------------------------------------------------------------------------------


def test_an_event_fans_out_to_every_active_endpoint_of_its_tenant_that_wants_it(
    core: Core, deps: DeliveryDeps
) -> None:
    everything = endpoint(core).endpoint
    payments_only = endpoint(core, OTHER_URL, types=("payment.completed",)).endpoint
    endpoint(core, "https://hooks.example.com/refunds", types=("refund.created",))
    deleted = endpoint(core, "https://hooks.example.com/gone").endpoint
    delete_endpoint(core.deps, core.user("alice"), deleted.id)
    endpoint(core, "https://hooks.example.com/other-tenant", tenant_id="t2")
    emitted = event(core)

    assert fan_out(deps, core.clock.now()) == 2

    found = all_deliveries(deps)
    assert {d.endpoint_id for d in found} == {everything.id, payments_only.id}
    for delivery in found:
        assert delivery.event_id == emitted.id
        assert delivery.status is DeliveryStatus.PENDING
        assert delivery.attempts == 0
        assert delivery.next_attempt_at == T0
        assert delivery.retry_until == emitted.created_at + timedelta(days=3)
    assert all_deliveries(deps, "t2") == []


def test_fanning_out_again_adds_nothing(core: Core, deps: DeliveryDeps) -> None:
    endpoint(core)
    event(core)
    assert fan_out(deps, T0) == 1

    assert fan_out(deps, T0) == 0
    assert len(all_deliveries(deps)) == 1
    assert deps.store.unfanned_events(T0 - timedelta(days=3), 10) == []


def test_an_event_no_endpoint_wants_is_read_once_and_gets_no_delivery(core: Core, deps: DeliveryDeps) -> None:
    event(core)

    assert fan_out(deps, T0) == 0
    assert deps.store.unfanned_events(T0 - timedelta(days=3), 10) == []
    endpoint(core)
    assert fan_out(deps, T0) == 0  # endpoints registered later get later events only
    assert all_deliveries(deps) == []


def test_a_test_event_goes_to_its_own_endpoint_only(core: Core, deps: DeliveryDeps) -> None:
    endpoint(core)
    second = endpoint(core, OTHER_URL).endpoint
    result = send_test_event(core.deps, core.user("alice"), "payment.completed", {"x": 1}, second.id)

    assert fan_out(deps, T0) == 1
    delivery = only(deps)
    assert (delivery.endpoint_id, delivery.event_id) == (second.id, result.webhook_event_id)


def test_events_older_than_the_retry_window_are_not_fanned_out(core: Core, deps: DeliveryDeps) -> None:
    endpoint(core)
    event(core)
    core.clock.advance(timedelta(days=3, seconds=1))

    assert fan_out(deps, core.clock.now()) == 0
    assert all_deliveries(deps) == []


# --- delivering ---------------------------------------------------------------------------------


def test_a_2xx_answer_delivers_a_signed_event_the_receiver_can_verify(
    core: Core, deps: DeliveryDeps, sender: FakeSender
) -> None:
    created = endpoint(core)
    emitted = event(core, amount=9900)
    fan_out(deps, T0)

    [outcome] = deliver_due(deps, T0)

    [request] = sender.sent
    assert request.url == URL
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers[EVENT_ID_HEADER] == request.headers[IDEMPOTENCY_HEADER] == emitted.id
    assert json.loads(request.body) == {
        "id": emitted.id,
        "type": "payment.completed",
        "created": int(T0.timestamp()),
        "livemode": False,
        "data": {"amount": 9900},
    }
    header = request.headers[SIGNATURE_HEADER]
    assert signature_values(header)[0] == int(T0.timestamp())
    assert receiver_accepts(header, request.body, created.secret, int(T0.timestamp()))
    assert not receiver_accepts(header, request.body, "whsec_wrong", int(T0.timestamp()))
    assert not receiver_accepts(header, request.body + b" ", created.secret, int(T0.timestamp()))
    assert outcome.status is DeliveryStatus.DELIVERED
    assert only(deps) == outcome
    assert (outcome.attempts, outcome.last_status_code, outcome.delivered_at) == (1, 200, T0)
    assert outcome.last_error is None
    assert deliver_due(deps, T0 + timedelta(days=1)) == []
    assert len(sender.sent) == 1


@pytest.mark.parametrize("status", [199, 302, 400, 404, 410, 500, 503])
def test_any_other_status_is_retried_after_30_seconds(
    core: Core, deps: DeliveryDeps, sender: FakeSender, status: int
) -> None:
    endpoint(core)
    event(core)
    fan_out(deps, T0)
    sender.script(status)

    [outcome] = deliver_due(deps, T0)

    assert outcome.status is DeliveryStatus.RETRYING
    assert (outcome.attempts, outcome.last_status_code) == (1, status)
    assert outcome.last_error == f"HTTP {status}"
    assert outcome.next_attempt_at == T0 + timedelta(seconds=30)
    assert outcome.delivered_at is None


def test_a_transport_failure_is_retried_and_kept_as_a_short_reason(
    core: Core, deps: DeliveryDeps, sender: FakeSender
) -> None:
    endpoint(core)
    event(core)
    fan_out(deps, T0)
    sender.script("!timeout")

    [outcome] = deliver_due(deps, T0)

    assert outcome.status is DeliveryStatus.RETRYING
    assert (outcome.last_status_code, outcome.last_error) == (None, "timeout")


def test_retries_back_off_exponentially_and_wait_until_due(
    core: Core, deps: DeliveryDeps, sender: FakeSender
) -> None:
    endpoint(core)
    event(core)
    fan_out(deps, T0)
    sender.script(500, 500, 500, 200)
    waits = []
    now = T0
    for _ in range(3):
        [outcome] = deliver_due(deps, now)
        waits.append(outcome.next_attempt_at - now)
        assert deliver_due(deps, outcome.next_attempt_at - timedelta(microseconds=1)) == []
        now = outcome.next_attempt_at
        core.clock.set(now)

    [final] = deliver_due(deps, now)

    assert waits == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    assert (final.status, final.attempts, final.delivered_at) == (DeliveryStatus.DELIVERED, 4, now)
    assert len(sender.sent) == 4
    assert len({request.headers[EVENT_ID_HEADER] for request in sender.sent}) == 1
    assert len({request.body for request in sender.sent}) == 1


def test_after_three_days_of_failures_the_delivery_is_a_dead_letter(
    core: Core, deps: DeliveryDeps, sender: FakeSender
) -> None:
    endpoint(core)
    emitted = event(core)
    fan_out(deps, T0)
    sender.script(503)
    outcome = None
    for _ in range(100):
        claimed = deliver_due(deps, core.clock.now())
        if claimed:
            [outcome] = claimed
            if outcome.status is DeliveryStatus.FAILED:
                break
            core.clock.set(outcome.next_attempt_at)
    assert outcome is not None and outcome.status is DeliveryStatus.FAILED

    deadline = emitted.created_at + timedelta(days=3)
    assert core.clock.now() <= deadline
    assert 15 <= outcome.attempts <= 25  # 30 s doubling to a 6 h cap fills 3 days in about 20 tries
    assert outcome.last_error == "HTTP 503"
    assert deliver_due(deps, deadline + timedelta(days=30)) == []
    assert len(sender.sent) == outcome.attempts


def test_a_deleted_endpoint_fails_its_deliveries_without_sending(
    core: Core, deps: DeliveryDeps, sender: FakeSender
) -> None:
    created = endpoint(core)
    event(core)
    fan_out(deps, T0)
    delete_endpoint(core.deps, core.user("alice"), created.endpoint.id)

    [outcome] = deliver_due(deps, T0)

    assert (outcome.status, outcome.last_error) == (DeliveryStatus.FAILED, "endpoint deleted")
    assert sender.sent == []


def test_deliver_due_takes_at_most_limit_earliest_first(core: Core, deps: DeliveryDeps) -> None:
    endpoint(core)
    for index in range(5):
        event(core, index=index)
        core.clock.advance(timedelta(seconds=1))
    fan_out(deps, T0)

    assert len(deliver_due(deps, core.clock.now(), limit=2)) == 2
    assert len(deliver_due(deps, core.clock.now(), limit=10)) == 3
    assert {d.status for d in all_deliveries(deps)} == {DeliveryStatus.DELIVERED}


def test_a_worker_whose_lease_was_taken_over_records_nothing(
    core: Core, deps: DeliveryDeps, sender: FakeSender
) -> None:
    endpoint(core)
    event(core)
    fan_out(deps, T0)
    [stale] = deps.store.claim_due(T0, 10, timedelta(minutes=5))  # a worker that then hangs
    assert deliver_due(deps, T0 + timedelta(minutes=4)) == []  # still leased

    [outcome] = deliver_due(deps, T0 + timedelta(minutes=5))

    assert (outcome.status, outcome.attempts) == (DeliveryStatus.DELIVERED, 2)
    late = deps.store.update(stale.delivery, stale.delivery.version)
    assert late is None
    assert only(deps) == outcome


def test_work_once_fans_out_then_delivers(core: Core, deps: DeliveryDeps, sender: FakeSender) -> None:
    endpoint(core)
    endpoint(core, OTHER_URL)
    event(core)
    sender.script(200, 500)

    report = work_once(deps, T0)

    assert (report.fanned_out, report.attempted, report.delivered) == (2, 2, 1)


# --- signatures, backoff ------------------------------------------------------------------------


def test_a_signature_carries_one_v1_per_secret_during_a_rotation() -> None:
    body = b'{"id":"evt_1"}'
    header = signature_header(["whsec_new", "whsec_old"], 1_700_000_000, body)

    assert len(signature_values(header)[1]) == 2
    assert receiver_accepts(header, body, "whsec_new", 1_700_000_000)
    assert receiver_accepts(header, body, "whsec_old", 1_700_000_100)
    assert not receiver_accepts(header, body, "whsec_new", 1_700_000_000 + 301)  # stale to a receiver
    with pytest.raises(ValueError):
        signature_header([], 1, body)


@pytest.mark.parametrize(
    ("attempts", "random_value", "expected"),
    [
        (1, 0.5, timedelta(seconds=30)),
        (1, 0.0, timedelta(seconds=24)),
        (1, 1.0, timedelta(seconds=36)),
        (4, 0.5, timedelta(minutes=4)),
        (10, 0.5, timedelta(seconds=30 * 2**9)),  # 4.3 h, the last doubling under the cap
        (11, 0.5, timedelta(hours=6)),
        (10_000, 0.5, timedelta(hours=6)),
        (10_000, 1.0, timedelta(hours=7, minutes=12)),
    ],
)
def test_the_retry_delay_doubles_up_to_a_cap_with_bounded_jitter(
    attempts: int, random_value: float, expected: timedelta
) -> None:
    assert retry_delay(attempts, random_value) == expected


def test_jitter_spreads_retries_of_the_same_attempt(core: Core) -> None:
    endpoint(core)
    event(core)
    early = delivery_deps(core, FakeSender(500), random_value=0.0)
    fan_out(early, T0)

    [outcome] = deliver_due(early, T0)

    assert outcome.next_attempt_at == T0 + timedelta(seconds=24)


def test_an_endpoint_registered_after_an_event_is_not_sent_that_event(core: Core, deps: DeliveryDeps) -> None:
    event(core)  # the tenant's past ...
    core.clock.advance(timedelta(seconds=1))
    endpoint(core)  # ... then a new endpoint
    assert fan_out(deps, core.clock.now()) == 0
    assert all_deliveries(deps) == []
    later = event(core)
    assert fan_out(deps, core.clock.now()) == 1
    assert [d.event_id for d in all_deliveries(deps)] == [later.id]
