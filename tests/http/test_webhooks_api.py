"""Webhooks over HTTP: the tenant's endpoints (secret shown once), seed 003's test event, and
inbound Stripe events verified by `Stripe-Signature` before anything changes."""

import uuid
from datetime import timedelta

import pytest

from payments_core.money import Money
from tests.support.http import ALL_SCOPES, error_code, wait_for_a_fresh_window

URL = "https://hooks.example.com/payments"


def endpoints_of(api, tenant):
    return api.core.webhooks.list_endpoints(tenant.principal())


def outbox_of(api, tenant):
    with api.core.deps.uow() as uow:
        return uow.outbox.for_tenant(tenant.id)


def no_mfa(tenant, scopes=ALL_SCOPES):
    return {"Authorization": f"Bearer {tenant.token(scopes=scopes, mfa=False)}"}


def register(api, tenant, url=URL, **body):
    response = api.post("/webhook-endpoints", json={"url": url, **body}, headers=tenant.headers())
    assert response.status_code == 201, response.text
    return response.json()


# -- endpoints --------------------------------------------------------------------------------------


def test_an_endpoints_secret_is_shown_once_and_never_again(api):
    acme = api.tenant()
    body = {"url": URL, "eventTypes": ["payment.succeeded", "refund.created"], "description": "orders"}
    created = api.post("/webhook-endpoints", json=body, headers=acme.headers())
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert endpoint["url"] == URL and endpoint["eventTypes"] == ["payment.succeeded", "refund.created"]
    assert endpoint["description"] == "orders" and endpoint["createdAt"].endswith("Z")
    secret = endpoint["secret"]
    assert secret.startswith("whsec_") and len(secret) > 20
    listed = api.get("/webhook-endpoints", headers=acme.headers())
    assert listed.status_code == 200
    [shown] = listed.json()["endpoints"]
    assert shown == {key: value for key, value in endpoint.items() if key != "secret"}
    trail = api.get("/audit-events", headers=acme.headers())
    for text in (listed.text, trail.text):
        assert secret not in text and secret[len("whsec_") :] not in text
    assert api.core.webhooks.endpoint_secret(acme.id, endpoint["id"]) == secret


def test_event_types_default_to_every_event(api):
    acme = api.tenant()
    assert register(api, acme)["eventTypes"] == ["*"]


def test_delete_stops_an_endpoint_and_a_second_delete_is_not_found(api):
    acme = api.tenant()
    endpoint = register(api, acme)
    deleted = api.delete(f"/webhook-endpoints/{endpoint['id']}", headers=acme.headers())
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["success"] is True and deleted.json()["deletedAt"].endswith("Z")
    assert endpoint["secret"] not in deleted.text
    assert api.get("/webhook-endpoints", headers=acme.headers()).json() == {"endpoints": []}
    again = api.delete(f"/webhook-endpoints/{endpoint['id']}", headers=acme.headers())
    assert again.status_code == 404 and error_code(again) == "RESOURCE_NOT_FOUND"


def test_another_tenants_endpoint_is_not_found_and_keeps_working(api):
    acme, globex = api.tenant(), api.tenant()
    endpoint = register(api, acme)
    deleted = api.delete(f"/webhook-endpoints/{endpoint['id']}", headers=globex.headers())
    assert deleted.status_code == 404 and error_code(deleted) == "RESOURCE_NOT_FOUND"
    tested = api.post(
        "/webhooks/test",
        json={"eventType": "payment.succeeded", "endpointId": endpoint["id"]},
        headers=globex.headers(),
    )
    assert tested.status_code == 404 and error_code(tested) == "RESOURCE_NOT_FOUND"
    assert api.get("/webhook-endpoints", headers=globex.headers()).json() == {"endpoints": []}
    assert [e.id for e in endpoints_of(api, acme)] == [endpoint["id"]]
    assert outbox_of(api, globex) == []


def test_managing_endpoints_needs_the_scope(api):
    acme = api.tenant()
    endpoint = register(api, acme)
    lacking = acme.headers(scopes=ALL_SCOPES - {"webhooks.manage"})
    attempts = [
        api.post("/webhook-endpoints", json={"url": URL}, headers=lacking),
        api.get("/webhook-endpoints", headers=lacking),
        api.delete(f"/webhook-endpoints/{endpoint['id']}", headers=lacking),
        api.post("/webhooks/test", json={"eventType": "payment.succeeded"}, headers=lacking),
    ]
    for response in attempts:
        assert response.status_code == 403 and error_code(response) == "INSUFFICIENT_PERMISSIONS"
    assert [e.id for e in endpoints_of(api, acme)] == [endpoint["id"]]
    assert outbox_of(api, acme) == []


def test_changing_endpoints_needs_a_fresh_mfa_but_listing_does_not(api):
    acme = api.tenant()
    endpoint = register(api, acme)
    stale = {"Authorization": f"Bearer {acme.token(mfa_at=api.clock.now() - timedelta(minutes=6))}"}
    for headers in (no_mfa(acme), stale):
        attempts = [
            api.post("/webhook-endpoints", json={"url": URL + "/2"}, headers=headers),
            api.delete(f"/webhook-endpoints/{endpoint['id']}", headers=headers),
            api.post("/webhooks/test", json={"eventType": "payment.succeeded"}, headers=headers),
        ]
        for response in attempts:
            assert response.status_code == 401 and error_code(response) == "MFA_CHALLENGE_REQUIRED"
            assert response.json()["error"]["details"]["action"] == "webhooks"
    listed = api.get("/webhook-endpoints", headers=no_mfa(acme))
    assert listed.status_code == 200 and [e["id"] for e in listed.json()["endpoints"]] == [endpoint["id"]]
    assert [e.id for e in endpoints_of(api, acme)] == [endpoint["id"]]
    assert outbox_of(api, acme) == []


def test_an_api_key_cannot_change_endpoints(api):
    acme = api.tenant()
    secret = acme.api_key(scopes=["webhooks.manage"])
    response = api.post("/webhook-endpoints", json={"url": URL}, headers={"X-TENANT-API-KEY": secret})
    assert response.status_code == 403 and error_code(response) == "INSUFFICIENT_PERMISSIONS"
    assert api.get("/webhook-endpoints", headers={"AppId": secret}).status_code == 200
    assert endpoints_of(api, acme) == []


def test_registering_with_an_idempotency_key_replays_the_same_endpoint(api):
    acme = api.tenant()
    headers = acme.headers(**{"Idempotency-Key": "endpoint-1"})
    first = api.post("/webhook-endpoints", json={"url": URL}, headers=headers)
    assert first.status_code == 201
    again = api.post("/webhook-endpoints", json={"url": URL}, headers=headers)
    assert again.status_code == 201 and again.json() == {**first.json(), "secret": None}
    assert first.json()["secret"].startswith("whsec_")
    assert again.headers["idempotent-replayed"] == "true"
    other = api.post("/webhook-endpoints", json={"url": URL + "/other"}, headers=headers)
    assert other.status_code == 400 and error_code(other) == "IDEMPOTENCY_KEY_REUSED"
    assert [e.id for e in endpoints_of(api, acme)] == [first.json()["id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://hooks.example.com/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://user:pw@hooks.example.com/"}, "url"),
        ({"url": "https://hooks.example.com/" + "x" * 2048}, "url"),
        ({"url": 42}, "url"),
        ({}, "url"),
        ({"url": URL, "eventTypes": []}, "eventTypes"),
        ({"url": URL, "eventTypes": ["Payment Succeeded"]}, "eventTypes"),
        ({"url": URL, "eventTypes": "payment.succeeded"}, "eventTypes"),
        ({"url": URL, "eventTypes": ["payment.succeeded"] * 33}, "eventTypes"),
        ({"url": URL, "description": "d" * 201}, "description"),
        ({"url": URL, "events": ["payment.succeeded"]}, "events"),
    ],
)
def test_bad_endpoint_input_is_refused_and_registers_nothing(api, body, field):
    acme = api.tenant()
    response = api.post("/webhook-endpoints", json=body, headers=acme.headers())
    assert response.status_code == 400, response.text
    assert error_code(response) == "INVALID_PARAMETER"
    assert field in str(response.json()["error"]["details"])  # the field, or the problem naming it
    assert endpoints_of(api, acme) == []


def test_a_bad_event_type_is_reported_under_this_apis_field_name(api):
    acme = api.tenant()
    body = {"url": URL, "eventTypes": ["payment.succeeded", "NOT-AN-EVENT"]}
    error = api.post("/webhook-endpoints", json=body, headers=acme.headers()).json()["error"]
    assert error["details"]["field"] == "eventTypes" and "event_types" not in error["message"]


def test_malformed_json_registers_nothing(api):
    acme = api.tenant()
    headers = {**acme.headers(), "Content-Type": "application/json"}
    response = api.post("/webhook-endpoints", content=b'{"url": ', headers=headers)
    assert response.status_code == 400 and error_code(response) == "INVALID_PARAMETER"
    assert endpoints_of(api, acme) == []


def test_deleting_an_over_long_id_is_refused(api):
    acme = api.tenant()
    response = api.delete("/webhook-endpoints/" + "w" * 101, headers=acme.headers())
    assert response.status_code == 400 and error_code(response) == "INVALID_PARAMETER"


# -- the test event (seed 003) ----------------------------------------------------------------------


def test_a_test_event_is_queued_for_the_endpoint_with_the_seed_fields(api):
    acme = api.tenant()
    endpoint = register(api, acme)
    body = {"eventType": "payment.succeeded", "data": {"paymentId": "test_payment_123", "test": False}}
    response = api.post("/webhooks/test", json=body, headers=acme.headers())
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["sent"] is True and answer["targetUrl"] == URL and answer["endpointId"] == endpoint["id"]
    assert response.headers["X-RateLimit-Limit"] == "5"
    [event] = outbox_of(api, acme)
    assert event.id == answer["webhookEventId"] and event.type == "payment.succeeded"
    assert dict(event.data) == {"paymentId": "test_payment_123", "test": True}
    assert event.endpoint_id == endpoint["id"]
    trail = api.get("/audit-events?action=webhook.test.sent", headers=acme.headers()).json()
    assert [e["details"]["webhookEventId"] for e in trail["events"]] == [answer["webhookEventId"]]


def test_a_test_event_goes_to_the_endpoint_named(api):
    acme = api.tenant()
    register(api, acme)
    second = register(api, acme, url="https://second.example.com/hook")
    body = {"eventType": "refund.created", "endpointId": second["id"]}
    answer = api.post("/webhooks/test", json=body, headers=acme.headers()).json()
    assert answer["targetUrl"] == "https://second.example.com/hook"


def test_a_test_event_replays_with_its_idempotency_key(api):
    acme = api.tenant()
    register(api, acme)
    headers = acme.headers(**{"Idempotency-Key": "test-event-1"})
    body = {"eventType": "payment.succeeded", "data": {"n": 1}}
    first = api.post("/webhooks/test", json=body, headers=headers)
    again = api.post("/webhooks/test", json=body, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    other = api.post("/webhooks/test", json={**body, "data": {"n": 2}}, headers=headers)
    assert other.status_code == 400 and error_code(other) == "IDEMPOTENCY_KEY_REUSED"
    assert len(outbox_of(api, acme)) == 1


def test_without_an_endpoint_the_test_event_is_refused(api):
    acme = api.tenant()
    response = api.post("/webhooks/test", json={"eventType": "payment.succeeded"}, headers=acme.headers())
    assert response.status_code == 400 and error_code(response) == "INVALID_OPERATION"
    assert outbox_of(api, acme) == []


@pytest.mark.parametrize(
    "body",
    [
        {"eventType": "Payment Succeeded"},
        {"eventType": "payment." + "x" * 100},
        {"eventType": 5},
        {},
        {"eventType": "payment.succeeded", "data": ["not", "an", "object"]},
        {"eventType": "payment.succeeded", "data": {"blob": "x" * 5000}},
        {"eventType": "payment.succeeded", "endpointId": "w" * 101},
    ],
)
def test_bad_test_event_input_is_refused_and_queues_nothing(api, body):
    acme = api.tenant()
    register(api, acme)
    response = api.post("/webhooks/test", json=body, headers=acme.headers())
    assert response.status_code == 400, response.text
    assert error_code(response) == "INVALID_PARAMETER"
    assert outbox_of(api, acme) == []


def test_test_events_are_limited_to_five_a_minute_per_tenant(api):
    acme = api.tenant()
    register(api, acme)
    body = {"eventType": "payment.succeeded"}
    wait_for_a_fresh_window(api)
    codes = [api.post("/webhooks/test", json=body, headers=acme.headers()).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    assert len(outbox_of(api, acme)) == 5


# -- inbound Stripe events --------------------------------------------------------------------------


class StripeShapedSandbox:
    """Stands in for the Stripe adapter (a later issue): the sandbox's signing scheme, read from
    Stripe's header, so the route's raw body and headers reach a real verifier."""

    def __init__(self, sandbox):
        self.sandbox = sandbox

    def parse_webhook(self, headers, body, secret=None):
        signature = next((v for k, v in headers.items() if k.lower() == "stripe-signature"), "")
        return self.sandbox.parse_webhook({"Sandbox-Signature": signature}, body, secret)


@pytest.fixture
def stripe(api):
    api.core.deps.providers["stripe"] = StripeShapedSandbox(api.sandbox)
    yield
    del api.core.deps.providers["stripe"]


def undelivered_payment(api, tenant):
    """A pending payment and the signed event that would complete it, not yet delivered."""
    session = api.core.checkout.create_session(
        tenant.principal(),
        amount=Money.parse("25.00", tenant.currency),
        reference=f"ord-{uuid.uuid4().hex[:8]}",
    )
    deliver, api.sandbox.deliver = api.sandbox.deliver, None
    try:
        webhook = api.sandbox.complete_checkout(session.provider_reference)
    finally:
        api.sandbox.deliver = deliver
    return session.payment_id, webhook


def status_of(api, tenant, payment_id):
    return api.core.payments.get_payment(tenant.principal(), payment_id).status.value


def stripe_headers(signature):
    return {"Stripe-Signature": signature, "Content-Type": "application/json"}


def test_without_a_stripe_provider_the_event_is_refused_and_changes_nothing(api):
    acme = api.tenant()
    payment_id, webhook = undelivered_payment(api, acme)
    signed = stripe_headers(webhook.headers["Sandbox-Signature"])
    response = api.post("/webhooks/stripe", content=webhook.body, headers=signed)
    assert response.status_code == 503 and error_code(response) == "PROVIDER_UNAVAILABLE"
    unsigned = api.post(
        "/webhooks/stripe", content=webhook.body, headers={"Content-Type": "application/json"}
    )
    assert unsigned.status_code == 401 and error_code(unsigned) == "UNAUTHENTICATED"
    assert status_of(api, acme, payment_id) == "pending"


def test_a_signed_stripe_event_is_applied_once(api, stripe):
    acme = api.tenant()
    payment_id, webhook = undelivered_payment(api, acme)
    headers = stripe_headers(webhook.headers["Sandbox-Signature"])
    first = api.post("/webhooks/stripe", content=webhook.body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "events": ["applied"]}
    assert "X-RateLimit-Limit" in first.headers
    assert status_of(api, acme, payment_id) == "completed"
    again = api.post("/webhooks/stripe", content=webhook.body, headers=headers)
    assert again.status_code == 200 and again.json()["events"] == ["duplicate"]


@pytest.mark.parametrize("forgery", ["tampered", "stale", "missing", "malformed", "body"])
def test_a_forged_or_stale_stripe_event_is_refused_and_changes_nothing(api, stripe, forgery):
    acme = api.tenant()
    payment_id, webhook = undelivered_payment(api, acme)
    body = webhook.body
    signature = webhook.headers["Sandbox-Signature"]
    if forgery == "tampered":
        signature = signature[:-4] + ("0000" if not signature.endswith("0000") else "1111")
    elif forgery == "stale":
        old = int((api.clock.now() - timedelta(hours=1)).timestamp())
        signature = api.sandbox.sign(body, timestamp=old)["Sandbox-Signature"]
    elif forgery == "missing":
        signature = ""
    elif forgery == "malformed":
        signature = "v1=abc"
    else:
        body = body.replace(b'"amount":2500', b'"amount":1')
        assert body != webhook.body
    response = api.post("/webhooks/stripe", content=body, headers=stripe_headers(signature))
    expected = (401, "UNAUTHENTICATED") if forgery == "missing" else (400, "INVALID_SIGNATURE")
    assert (response.status_code, error_code(response)) == expected
    assert status_of(api, acme, payment_id) == "pending"
