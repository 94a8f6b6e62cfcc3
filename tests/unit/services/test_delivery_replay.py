"""Outbound webhooks: the manual replay of a dead letter, and listing deliveries.

Runs on both stores (tests/unit/services/conftest.py), with a scripted fake sender.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from payments_core.errors import DomainError
from payments_core.policies import Scope
from payments_core.ports.deliveries import WebhookDelivery
from payments_core.services.deliveries import (
    DeliveryDeps,
    deliver_due,
    fan_out,
    get_delivery,
    list_deliveries,
    replay,
)
from payments_core.states import DeliveryStatus
from tests.support.core import ALL_SCOPES, T0, Core, make_core
from tests.support.deliveries import (
    FakeSender,
    delivery_deps,
    endpoint,
    event,
    only,
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


# --- replay and listing -------------------------------------------------------------------------


def failed_delivery(core: Core, deps: DeliveryDeps, sender: FakeSender) -> WebhookDelivery:
    endpoint(core)
    event(core)
    fan_out(deps, T0)
    sender.script(500)
    core.clock.set(T0 + timedelta(days=3) - timedelta(seconds=10))
    [outcome] = deliver_due(deps, T0)
    assert outcome.status is DeliveryStatus.FAILED
    return outcome


def test_a_failed_delivery_is_replayed_with_a_fresh_window_and_then_delivered(
    core: Core, deps: DeliveryDeps, sender: FakeSender
) -> None:
    dead = failed_delivery(core, deps, sender)
    now = core.clock.now()

    replayed = replay(deps, core.user("alice"), dead.id)

    assert (replayed.status, replayed.attempts) == (DeliveryStatus.PENDING, 0)
    assert (replayed.next_attempt_at, replayed.retry_until) == (now, now + timedelta(days=3))
    assert get_delivery(deps, core.user("alice"), dead.id) == replayed
    [action] = [e.action for e in core.store.audit.table.rows() if e.target_id == dead.id]
    assert action == "webhook_delivery.replayed"
    sender.script(200)
    [outcome] = deliver_due(deps, now)
    assert outcome.status is DeliveryStatus.DELIVERED


def test_only_a_failed_delivery_can_be_replayed(core: Core, deps: DeliveryDeps) -> None:
    endpoint(core)
    event(core)
    fan_out(deps, T0)
    pending = only(deps)

    with pytest.raises(DomainError) as excinfo:
        replay(deps, core.user("alice"), pending.id)
    assert excinfo.value.code == "INVALID_OPERATION"
    assert excinfo.value.details["currentStatus"] == "pending"
    [delivered] = deliver_due(deps, T0)
    with pytest.raises(DomainError) as excinfo:
        replay(deps, core.user("alice"), delivered.id)
    assert excinfo.value.details["currentStatus"] == "delivered"
    assert only(deps) == delivered


def test_replay_needs_the_webhooks_scope_and_the_callers_own_tenant(
    core: Core, deps: DeliveryDeps, sender: FakeSender
) -> None:
    dead = failed_delivery(core, deps, sender)
    reader = core.user("bob", scopes=ALL_SCOPES - {Scope.WEBHOOKS_MANAGE.value})
    stranger = core.user("eve", tenant_id="t2")

    with pytest.raises(DomainError) as excinfo:
        replay(deps, reader, dead.id)
    assert excinfo.value.code == "INSUFFICIENT_PERMISSIONS"
    for attempt in (lambda: replay(deps, stranger, dead.id), lambda: get_delivery(deps, stranger, dead.id)):
        with pytest.raises(DomainError) as excinfo:
            attempt()
        assert excinfo.value.code == "RESOURCE_NOT_FOUND"
    assert only(deps) == dead


def test_an_api_key_with_the_scope_may_replay(core: Core, deps: DeliveryDeps, sender: FakeSender) -> None:
    dead = failed_delivery(core, deps, sender)

    assert replay(deps, core.api_key(), dead.id).status is DeliveryStatus.PENDING


def test_listing_is_newest_first_and_filters_by_status_and_event(
    core: Core, deps: DeliveryDeps, sender: FakeSender
) -> None:
    endpoint(core)
    first = event(core)
    fan_out(deps, T0)
    core.clock.advance(timedelta(seconds=1))
    second = event(core)
    fan_out(deps, core.clock.now())
    sender.script(500)
    deliver_due(deps, T0, limit=1)  # the older one now retrying
    alice = core.user("alice")

    page = list_deliveries(deps, alice)
    assert [d.event_id for d in page.items] == [second.id, first.id]
    assert page.total == 2
    assert [d.event_id for d in list_deliveries(deps, alice, status="retrying").items] == [first.id]
    assert [d.event_id for d in list_deliveries(deps, alice, event_id=second.id).items] == [second.id]
    later = list_deliveries(deps, alice, offset=5, limit=1)
    assert (later.items, later.total) == ((), 2)
    assert list_deliveries(deps, core.user("eve", tenant_id="t2")).total == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"status": "sent"}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"offset": -1}, "offset"),
        ({"event_id": "e" * 101}, "eventId"),
    ],
)
def test_bad_listing_parameters_are_refused(core: Core, deps: DeliveryDeps, kwargs: Any, field: str) -> None:
    with pytest.raises(DomainError) as excinfo:
        list_deliveries(deps, core.user("alice"), **kwargs)

    assert excinfo.value.code == "INVALID_PARAMETER"
    assert excinfo.value.details["field"] == field
