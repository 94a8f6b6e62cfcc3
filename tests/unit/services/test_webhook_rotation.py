"""Rotating an endpoint's signing secret: a new `whsec_` secret shown once, and the old one still
signing beside it for the overlap, so a receiver can switch without rejecting a delivery.

Runs on both stores (tests/unit/services/conftest.py), with a scripted fake sender.
"""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from adapters.memory.uow import InMemoryStore
from adapters.postgres.codec import dump, load
from payments_core.errors import DomainError
from payments_core.model.integrations import WebhookEndpoint
from payments_core.policies import Scope
from payments_core.services.deliveries import SIGNATURE_HEADER, deliver_due, fan_out
from payments_core.services.webhooks import delete_endpoint, endpoint_secret, rotate_endpoint_secret
from tests.support.core import ALL_SCOPES, T0, Core, make_core
from tests.support.deliveries import (
    FakeSender,
    SentRequest,
    delivery_deps,
    endpoint,
    event,
    receiver_accepts,
    signature_values,
)

NEW_FIELDS = ("previous_sealed_secret", "previous_secret_expires_at")


@pytest.fixture
def core() -> Core:
    return make_core()


def delivered_once(core: Core) -> SentRequest:
    """Emit an event now and deliver it: the one request the receiver got."""
    sender = FakeSender(200)
    deps = delivery_deps(core, sender)
    event(core)
    now = core.clock.now()
    fan_out(deps, now)
    deliver_due(deps, now)
    [request] = sender.sent
    return request


def accepts(core: Core, request: SentRequest, secret: str) -> bool:
    return receiver_accepts(
        request.headers[SIGNATURE_HEADER], request.body, secret, int(core.clock.now().timestamp())
    )


def audit_of(core: Core, action: str) -> list[object]:
    return [row for row in core.store.audit.table.rows() if row.action == action]


# --- rotating -----------------------------------------------------------------------------------


def test_rotating_returns_a_new_secret_once_and_keeps_the_old_one_sealed_for_the_overlap(core: Core) -> None:
    created = endpoint(core)
    core.clock.advance(timedelta(minutes=5))

    rotated = rotate_endpoint_secret(core.deps, core.user("alice"), created.endpoint.id)

    assert rotated.secret.startswith("whsec_") and rotated.secret != created.secret
    assert len(rotated.secret) == len(created.secret)
    assert rotated.secret not in repr(rotated)
    stored = core.store.webhook_endpoints.get("t1", created.endpoint.id)
    assert stored == rotated.endpoint
    assert stored.previous_secret_expires_at == T0 + timedelta(minutes=5, hours=24)
    assert stored.previous_sealed_secret == created.endpoint.sealed_secret
    for name, value in attrs.asdict(stored).items():
        for secret in (created.secret, rotated.secret):
            assert secret not in repr(value), f"a secret leaked into WebhookEndpoint.{name}"
    assert endpoint_secret(core.deps, "t1", created.endpoint.id) == rotated.secret


def test_rotating_is_audited_without_either_secret(core: Core) -> None:
    created = endpoint(core)

    rotated = rotate_endpoint_secret(core.deps, core.user("alice"), created.endpoint.id, timedelta(hours=2))

    [entry] = audit_of(core, "webhook_endpoint.secret_rotated")
    assert entry.target_id == created.endpoint.id  # type: ignore[attr-defined]
    assert entry.details["overlapSeconds"] == 7200  # type: ignore[attr-defined]
    for secret in (created.secret, rotated.secret):
        assert secret not in repr(entry)
    assert created.endpoint.sealed_secret not in repr(entry)


# --- deliveries during and after the overlap -----------------------------------------------------


def test_during_the_overlap_a_delivery_carries_two_v1_one_per_secret(core: Core) -> None:
    created = endpoint(core)
    rotated = rotate_endpoint_secret(core.deps, core.user("alice"), created.endpoint.id, timedelta(hours=1))
    core.clock.advance(timedelta(minutes=59))

    request = delivered_once(core)

    timestamp, signatures = signature_values(request.headers[SIGNATURE_HEADER])
    assert timestamp == int(core.clock.now().timestamp())
    assert len(signatures) == 2
    assert signatures[0] != signatures[1]
    assert receiver_accepts(f"t={timestamp},v1={signatures[0]}", request.body, rotated.secret, timestamp)
    assert receiver_accepts(f"t={timestamp},v1={signatures[1]}", request.body, created.secret, timestamp)
    assert not accepts(core, request, "whsec_someone_else")


def test_after_the_overlap_only_the_new_secret_signs(core: Core) -> None:
    created = endpoint(core)
    rotated = rotate_endpoint_secret(core.deps, core.user("alice"), created.endpoint.id, timedelta(hours=1))
    core.clock.advance(timedelta(hours=1))

    request = delivered_once(core)

    assert len(signature_values(request.headers[SIGNATURE_HEADER])[1]) == 1
    assert accepts(core, request, rotated.secret)
    assert not accepts(core, request, created.secret)


def test_without_an_overlap_the_old_secret_stops_at_once(core: Core) -> None:
    created = endpoint(core)

    rotated = rotate_endpoint_secret(core.deps, core.user("alice"), created.endpoint.id, timedelta(0))

    assert rotated.endpoint.previous_sealed_secret is None
    assert rotated.endpoint.previous_secret_expires_at is None
    request = delivered_once(core)
    assert len(signature_values(request.headers[SIGNATURE_HEADER])[1]) == 1
    assert accepts(core, request, rotated.secret) and not accepts(core, request, created.secret)


def test_a_second_rotation_during_the_overlap_keeps_only_the_then_current_secret(core: Core) -> None:
    created = endpoint(core)
    alice = core.user("alice")
    first = rotate_endpoint_secret(core.deps, alice, created.endpoint.id)
    core.clock.advance(timedelta(hours=1))

    second = rotate_endpoint_secret(core.deps, core.user("alice"), created.endpoint.id, timedelta(hours=3))

    assert second.endpoint.previous_sealed_secret == first.endpoint.sealed_secret
    assert second.endpoint.previous_secret_expires_at == T0 + timedelta(hours=4)
    request = delivered_once(core)
    assert len(signature_values(request.headers[SIGNATURE_HEADER])[1]) == 2
    assert accepts(core, request, second.secret) and accepts(core, request, first.secret)
    assert not accepts(core, request, created.secret)


# --- who may, and what ---------------------------------------------------------------------------


def test_rotating_needs_a_fresh_mfa_a_person_and_the_scope(core: Core) -> None:
    created = endpoint(core)
    refusals = {
        "MFA_CHALLENGE_REQUIRED": core.user("bob", mfa=False),
        "INSUFFICIENT_PERMISSIONS": core.api_key(),
    }
    viewer = core.user("vic", scopes=ALL_SCOPES - {Scope.WEBHOOKS_MANAGE.value})

    for code, principal in refusals.items():
        with pytest.raises(DomainError) as excinfo:
            rotate_endpoint_secret(core.deps, principal, created.endpoint.id)
        assert excinfo.value.code == code
    with pytest.raises(DomainError) as lacking:
        rotate_endpoint_secret(core.deps, viewer, created.endpoint.id)

    assert lacking.value.code == "INSUFFICIENT_PERMISSIONS"
    assert lacking.value.details["requiredScopes"] == ["webhooks.manage"]
    assert core.store.webhook_endpoints.get("t1", created.endpoint.id) == created.endpoint
    assert audit_of(core, "webhook_endpoint.secret_rotated") == []


def test_another_tenants_or_a_deleted_endpoint_is_not_found(core: Core) -> None:
    created = endpoint(core)
    gone = endpoint(core, "https://hooks.example.com/gone").endpoint
    deleted = delete_endpoint(core.deps, core.user("alice"), gone.id)

    with pytest.raises(DomainError) as foreign:
        rotate_endpoint_secret(core.deps, core.user("tom", tenant_id="t2"), created.endpoint.id)
    with pytest.raises(DomainError) as removed:
        rotate_endpoint_secret(core.deps, core.user("alice"), gone.id)

    assert foreign.value.code == removed.value.code == "RESOURCE_NOT_FOUND"
    assert core.store.webhook_endpoints.get("t1", created.endpoint.id) == created.endpoint
    assert core.store.webhook_endpoints.get("t1", gone.id) == deleted


@pytest.mark.parametrize(
    "overlap",
    [timedelta(seconds=-1), timedelta(days=7, seconds=1), 24, None],
    ids=["negative", "over-7-days", "int", "none"],
)
def test_an_overlap_outside_0_to_7_days_is_refused(core: Core, overlap: object) -> None:
    created = endpoint(core)

    with pytest.raises(DomainError) as excinfo:
        rotate_endpoint_secret(core.deps, core.user("alice"), created.endpoint.id, overlap)  # type: ignore[arg-type]

    assert excinfo.value.code == "INVALID_PARAMETER"
    assert excinfo.value.details["field"] == "overlap"
    assert core.store.webhook_endpoints.get("t1", created.endpoint.id) == created.endpoint


def test_an_overlap_of_exactly_7_days_is_accepted(core: Core) -> None:
    created = endpoint(core)

    rotated = rotate_endpoint_secret(core.deps, core.user("alice"), created.endpoint.id, timedelta(days=7))

    assert rotated.endpoint.previous_secret_expires_at == T0 + timedelta(days=7)


# --- stored before rotation existed ---------------------------------------------------------------


def test_an_endpoint_stored_without_the_rotation_fields_still_loads_and_rotates(core: Core) -> None:
    created = endpoint(core)
    old_doc = {key: value for key, value in dump(created.endpoint).items() if key not in NEW_FIELDS}
    assert load(WebhookEndpoint, old_doc) == created.endpoint
    if not isinstance(core.store, InMemoryStore):
        with core.deps.uow() as uow:
            uow.scope("*")  # type: ignore[attr-defined]
            uow.connection.execute(  # type: ignore[attr-defined]
                "UPDATE webhook_endpoints SET doc = doc - %s - %s", NEW_FIELDS
            )
            uow.commit()
        with core.deps.uow() as uow:
            uow.scope("*")  # type: ignore[attr-defined]
            [(doc,)] = uow.connection.execute("SELECT doc FROM webhook_endpoints").fetchall()  # type: ignore[attr-defined]
        assert doc["sealed_secret"] == created.endpoint.sealed_secret
        assert not set(NEW_FIELDS) & set(doc)

    assert core.store.webhook_endpoints.get("t1", created.endpoint.id) == created.endpoint
    assert delivered_once(core).headers[SIGNATURE_HEADER].count("v1=") == 1
    rotated = rotate_endpoint_secret(core.deps, core.user("alice"), created.endpoint.id)
    assert rotated.endpoint.previous_sealed_secret == created.endpoint.sealed_secret
