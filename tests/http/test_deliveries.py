"""`/webhooks/deliveries`: listing what was sent, and replaying a dead letter, over HTTP.

The app is the real one; the facade's `deliveries` is rewired to a fake receiver that answers 500.
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters.postgres.deliveries import PostgresDeliveryStore
from payments_core.facade import BoundUseCases
from payments_core.policies import Scope
from payments_core.services import deliveries
from payments_core.services.deliveries import DeliveryDeps, deliver_due, fan_out
from payments_core.states import DeliveryStatus
from tests.support.deliveries import FakeSender
from tests.support.http import Api, TenantHandle, error_code

ALL_BUT_WEBHOOKS = [scope.value for scope in Scope if scope is not Scope.WEBHOOKS_MANAGE]


@pytest.fixture(scope="module")
def delivery(api: Api) -> DeliveryDeps:
    core: Any = api.core
    deps = DeliveryDeps(core.deps, PostgresDeliveryStore(core.deps.uow.pool), FakeSender(500), lambda: 0.5)
    core.deliveries = BoundUseCases(deliveries, deps)  # type: ignore[arg-type]
    return deps


def sent_once(api: Api, delivery: DeliveryDeps, acme: TenantHandle, delete_first: bool = False) -> str:
    """A test event, fanned out and attempted once (the fake receiver answers 500; a deleted
    endpoint fails its delivery at once); its delivery id."""
    created = api.core.webhooks.create_endpoint(acme.principal(), "https://hooks.example.com/in")
    api.core.webhooks.send_test_event(acme.principal(), "payment.completed", {"n": 1})
    fan_out(delivery, api.clock.now())
    if delete_first:
        api.core.webhooks.delete_endpoint(acme.principal(), created.endpoint.id)
    deliver_due(delivery, api.clock.now())
    [found] = delivery.store.search(acme.id, None, None, 0, 10).items
    return found.id


def test_listing_shows_status_and_short_error_but_no_payload_or_secret(
    api: Api, delivery: DeliveryDeps
) -> None:
    acme = api.tenant()
    delivery_id = sent_once(api, delivery, acme)

    response = api.get("/webhooks/deliveries", headers=acme.headers())

    assert response.status_code == 200, response.text
    body = response.json()
    [shown] = body["deliveries"]
    assert shown["id"] == delivery_id
    assert (shown["status"], shown["attempts"], shown["lastStatusCode"], shown["lastError"]) == (
        "retrying", 1, 500, "HTTP 500",
    )  # fmt: skip
    assert shown["nextAttemptAt"] is not None and shown["deliveredAt"] is None
    assert set(shown) == {
        "id", "eventId", "eventType", "endpointId", "status", "attempts", "lastStatusCode", "lastError",
        "nextAttemptAt", "deliveredAt", "createdAt",
    }  # fmt: skip
    assert "whsec_" not in response.text
    assert body["pagination"] == {"currentPage": 1, "totalPages": 1, "totalItems": 1, "itemsPerPage": 20}
    filtered = api.get("/webhooks/deliveries", params={"status": "failed"}, headers=acme.headers())
    assert filtered.json()["deliveries"] == []
    one = api.get(f"/webhooks/deliveries/{delivery_id}", headers=acme.headers())
    assert one.json()["id"] == delivery_id


def test_a_failed_delivery_is_replayed_once_per_idempotency_key(api: Api, delivery: DeliveryDeps) -> None:
    acme = api.tenant()
    delivery_id = sent_once(api, delivery, acme, delete_first=True)
    path = f"/webhooks/deliveries/{delivery_id}/replay"
    headers = acme.headers(**{"Idempotency-Key": "replay-1"})

    first = api.post(path, headers=headers)
    again = api.post(path, headers=headers)
    other_key = api.post(path, headers=acme.headers(**{"Idempotency-Key": "replay-2"}))

    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["attempts"]) == ("pending", 0)
    assert again.status_code == 200 and again.json() == first.json()
    assert other_key.status_code == 400 and error_code(other_key) == "INVALID_OPERATION"
    stored = delivery.store.get(acme.id, delivery_id)
    assert stored is not None and stored.status is DeliveryStatus.PENDING


def test_replaying_needs_the_scope_and_the_callers_own_tenant(api: Api, delivery: DeliveryDeps) -> None:
    acme, other = api.tenant(), api.tenant()
    delivery_id = sent_once(api, delivery, acme, delete_first=True)
    path = f"/webhooks/deliveries/{delivery_id}/replay"

    no_scope = api.post(path, headers=acme.headers(scopes=ALL_BUT_WEBHOOKS))
    stranger = api.post(path, headers=other.headers())
    listing = api.get("/webhooks/deliveries", headers=acme.headers(scopes=ALL_BUT_WEBHOOKS))
    peek = api.get(f"/webhooks/deliveries/{delivery_id}", headers=other.headers())

    assert (no_scope.status_code, error_code(no_scope)) == (403, "INSUFFICIENT_PERMISSIONS")
    assert (stranger.status_code, error_code(stranger)) == (404, "RESOURCE_NOT_FOUND")
    assert (listing.status_code, error_code(listing)) == (403, "INSUFFICIENT_PERMISSIONS")
    assert (peek.status_code, error_code(peek)) == (404, "RESOURCE_NOT_FOUND")
    stored = delivery.store.get(acme.id, delivery_id)
    assert stored is not None and stored.status is DeliveryStatus.FAILED


@pytest.mark.parametrize(
    "params",
    [
        {"status": "sent"},
        {"limit": "0"},
        {"limit": "101"},
        {"page": "0"},
        {"limit": "ten"},
        {"eventId": "e" * 101},
    ],
)
def test_bad_listing_parameters_are_400(api: Api, delivery: DeliveryDeps, params: dict[str, str]) -> None:
    acme = api.tenant()

    response = api.get("/webhooks/deliveries", params=params, headers=acme.headers())

    assert response.status_code == 400, response.text
    assert error_code(response) == "INVALID_PARAMETER"


def test_an_over_long_delivery_id_is_refused(api: Api, delivery: DeliveryDeps) -> None:
    acme = api.tenant()

    response = api.post(f"/webhooks/deliveries/{'d' * 101}/replay", headers=acme.headers())

    assert response.status_code == 400
    assert error_code(response) == "INVALID_PARAMETER"
