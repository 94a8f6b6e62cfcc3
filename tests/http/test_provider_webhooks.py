"""Real providers end to end: tenants' credentials, the adapters wired by `wire_core` against the
loopback fakes, and inbound notifications delivered over real HTTP to the app served by uvicorn.

Exactly once: the same signed event delivered many times at once completes its payment once and
credits the wallet once. Forged, stale, truncated or wrongly signed events change nothing; unsigned
notifications (M-Pesa, Pesapal) move money only as the provider's own status query confirms them;
a provider down while confirming records nothing, so its retry still applies."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
import stripe

from entrypoints.http import create_app
from payments_core.money import Money
from payments_core.policies import Principal
from tests.fakes import mercadopago_server, mpesa_server, paystack_server, pesapal_server
from tests.fakes.mercadopago_server import FakeMercadoPago
from tests.fakes.mpesa_server import FakeMpesa
from tests.fakes.paystack_server import FakePaystack
from tests.fakes.pesapal_server import FakePesapal
from tests.fakes.serving import serve
from tests.fakes.stripe_server import FakeStripe, signature_header
from tests.support.http import ALL_SCOPES, Api, TenantHandle, running_api

PUBLIC_URL = "https://payments.example.test"
PLATFORM_SECRET = "whsec_platform_" + "p" * 32
TENANT_SECRET = "whsec_tenant_" + "t" * 32
STRIPE_KEY = "sk_live_fake0000000000000000"  # one of the keys FakeStripe accepts
PAYSTACK_KEY = "sk_live_" + "a" * 40
MP_TOKEN = "APP_USR-1111-2222-3333-444455556666"
MP_SECRET = "mp-webhook-secret-0123456789"
MPESA_CONFIG = {
    "consumer_key": mpesa_server.CONSUMER_KEY,
    "consumer_secret": mpesa_server.CONSUMER_SECRET,
    "passkey": mpesa_server.PASSKEY,
    "security_credential": "Q" * 344,
    "shortcode": mpesa_server.SHORTCODE,
    "initiator_name": "testapi",
    "environment": "production",
}
PESAPAL_CONFIG = {
    "consumer_key": pesapal_server.CONSUMER_KEY,
    "consumer_secret": pesapal_server.CONSUMER_SECRET,
    "environment": "production",
}
PHONE = "254712345678"
DELIVERIES = 50


class World:
    """The app on a real socket, the five fakes, and the harness's core behind them."""

    def __init__(self, api: Api, base_url: str, fakes: dict[str, Any]) -> None:
        self.api, self.base_url = api, base_url
        self.stripe: FakeStripe = fakes["stripe"]
        self.mercadopago: FakeMercadoPago = fakes["mercadopago"]
        self.mpesa: FakeMpesa = fakes["mpesa"]
        self.paystack: FakePaystack = fakes["paystack"]
        self.pesapal: FakePesapal = fakes["pesapal"]

    def post(self, path: str, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        merged = {"Content-Type": "application/json", **(headers or {})}
        return httpx.post(f"{self.base_url}/api/v1{path}", content=content, headers=merged, timeout=30)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.base_url}/api/v1{path}", timeout=30)

    def tenant(self, provider: str, currency: str) -> TenantHandle:
        """A live tenant whose customers pay through `provider`."""
        tenant_id = f"ten_{uuid.uuid4().hex[:12]}"
        self.api.core.tenants.create_tenant(
            tenant_id, f"Tenant {tenant_id}", currency, providers=(provider,), livemode=True
        )
        return TenantHandle(self.api, tenant_id, currency)

    def live(self, tenant: TenantHandle) -> Principal:
        return Principal.user(tenant.id, "alice", ALL_SCOPES, self.api.clock.now(), livemode=True)

    def configure(self, tenant: TenantHandle, provider: str, values: dict[str, Any]) -> str:
        """The tenant's credentials for `provider`; answers the url_id of its inbound URL."""
        view = self.api.core.provider_config.register_provider_config(tenant.principal(), provider, values)
        return str(view.webhook_path.split("/")[4])

    def checkout(self, tenant: TenantHandle, amount: str, phone: str | None = None) -> Any:
        return self.api.core.checkout.create_session(
            self.live(tenant),
            amount=Money.parse(amount, tenant.currency),
            reference=f"ord-{uuid.uuid4().hex[:8]}",
            client_phone_number=phone,
        )

    def payment(self, tenant: TenantHandle, payment_id: str) -> Any:
        return self.api.core.payments.get_payment(tenant.principal(), payment_id)

    def wallet(self, tenant: TenantHandle) -> int:
        balance = self.api.core.wallet.wallet_balance(tenant.principal(), tenant.currency)
        return int(balance.available.minor)

    def transfers(self, tenant: TenantHandle) -> int:
        with self.api.core.deps.uow() as uow:
            return len({entry.transfer_id for entry in uow.ledger.entries(tenant.id)})


@pytest.fixture(scope="module")
def world(pg_url: str) -> Iterator[World]:
    fakes = {
        "stripe": FakeStripe(),
        "mercadopago": FakeMercadoPago(),
        "mpesa": FakeMpesa(),
        "paystack": FakePaystack(),
        "pesapal": FakePesapal(),
    }
    with ExitStack() as stack, pytest.MonkeyPatch.context() as env:
        for name, fake in fakes.items():
            env.setenv(f"PAYMENTS_{name.upper()}_URL", stack.enter_context(serve(fake)))
        env.setenv("PAYMENTS_STRIPE_WEBHOOK_SECRET", PLATFORM_SECRET)
        env.setenv("PAYMENTS_PUBLIC_URL", PUBLIC_URL)
        api = stack.enter_context(running_api(pg_url))
        base_url = stack.enter_context(serve(create_app(api.runtime)))
        yield World(api, base_url, fakes)


def error_code(response: httpx.Response) -> str:
    body = response.json()
    return str(body["errors"][0]["code"] if "errors" in body else body["error"]["code"])


# --- Stripe -------------------------------------------------------------------------------------


def stripe_checkout(world: World) -> tuple[TenantHandle, Any, bytes, str]:
    """A live Stripe checkout of 25.00 USD, paid on Stripe's page; its `checkout.session.completed`
    body (not yet delivered) and the tenant's url_id."""
    acme = world.tenant("stripe", "USD")
    url_id = world.configure(acme, "stripe", {"secret_key": STRIPE_KEY, "webhook_secret": TENANT_SECRET})
    session = world.checkout(acme, "25.00")
    assert session.provider == "stripe" and session.provider_reference.startswith("cs_live_")
    paid = world.stripe.complete_session(session.provider_reference)
    return acme, session, world.stripe.event("checkout.session.completed", paid), url_id


def signed(body: bytes, secret: str = PLATFORM_SECRET, at: int | None = None) -> dict[str, str]:
    return {"Stripe-Signature": signature_header(body, [secret], int(time.time()) if at is None else at)}


def test_fifty_concurrent_deliveries_complete_the_payment_and_credit_the_wallet_once(world):
    acme, session, body, _ = stripe_checkout(world)
    assert world.wallet(acme) == 0 and world.transfers(acme) == 0
    headers = signed(body)
    start = threading.Barrier(DELIVERIES)

    def deliver(_: int) -> httpx.Response:
        start.wait()
        return world.post("/webhooks/stripe", body, headers)

    with ThreadPoolExecutor(DELIVERIES) as pool:
        responses = list(pool.map(deliver, range(DELIVERIES)))

    assert [response.status_code for response in responses] == [200] * DELIVERIES
    outcomes = sorted(outcome for response in responses for outcome in response.json()["events"])
    assert outcomes == ["applied"] + ["duplicate"] * (DELIVERIES - 1)
    payment = world.payment(acme, session.payment_id)
    assert payment.status.value == "completed" and payment.fee is not None
    credited = payment.amount.minor - payment.fee.minor
    assert credited > 0 and world.wallet(acme) == credited and world.transfers(acme) == 1
    again = world.post("/webhooks/stripe", body, headers)
    assert again.json()["events"] == ["duplicate"] and world.wallet(acme) == credited


def test_an_event_signed_by_the_official_stripe_library_is_applied(world):
    acme, session, body, _ = stripe_checkout(world)
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), PLATFORM_SECRET)
    ours = signed(body)["Stripe-Signature"]
    stripe.WebhookSignature.verify_header(body, ours, PLATFORM_SECRET, tolerance=300)  # the fake signs alike

    response = world.post("/webhooks/stripe", body, {"Stripe-Signature": header})

    assert response.status_code == 200 and response.json()["events"] == ["applied"]
    assert world.payment(acme, session.payment_id).status.value == "completed"


def stripe_forgery(kind: str, body: bytes) -> tuple[bytes, dict[str, str]]:
    if kind == "forged":
        return body, signed(body, secret="whsec_" + "f" * 32)
    if kind == "resigned_with_the_tenants_secret":
        return body, signed(body, secret=TENANT_SECRET)
    if kind == "stale":
        return body, signed(body, at=int(time.time()) - 301)
    if kind == "truncated":
        return body[: len(body) // 2], signed(body)
    if kind == "tampered_body":
        return body.replace(b'"amount_total":2500', b'"amount_total":1'), signed(body)
    header = signed(body)["Stripe-Signature"]  # a flipped hex digit
    return body, {"Stripe-Signature": header[:-1] + ("0" if header[-1] != "0" else "1")}


@pytest.mark.parametrize(
    "kind", ["forged", "resigned_with_the_tenants_secret", "stale", "truncated", "tampered_body", "flipped"]
)
def test_a_forged_stale_or_truncated_stripe_event_is_400_and_changes_nothing(world, kind):
    acme, session, body, _ = stripe_checkout(world)
    content, headers = stripe_forgery(kind, body)
    assert content != body or headers != signed(body)

    response = world.post("/webhooks/stripe", content, headers)

    assert response.status_code == 400, response.text
    assert error_code(response) == "INVALID_SIGNATURE"
    assert world.payment(acme, session.payment_id).status.value == "pending" and world.wallet(acme) == 0
    genuine = world.post("/webhooks/stripe", body, signed(body))  # nothing was recorded
    assert genuine.json()["events"] == ["applied"]


def test_an_unsigned_stripe_event_is_401(world):
    acme, session, body, _ = stripe_checkout(world)
    response = world.post("/webhooks/stripe", body)
    assert response.status_code == 401 and error_code(response) == "UNAUTHENTICATED"
    assert world.payment(acme, session.payment_id).status.value == "pending"


def test_a_tenants_own_stripe_endpoint_applies_its_own_events_only(world):
    acme, session, body, acme_url = stripe_checkout(world)
    _, _, other_body, other_url = stripe_checkout(world)

    wrong_url = world.post(f"/stripe/{other_url}/webhook", body, signed(body, TENANT_SECRET))
    assert wrong_url.status_code == 200 and wrong_url.json()["events"] == ["ignored"]
    assert world.payment(acme, session.payment_id).status.value == "pending"
    platform_signed = world.post(f"/stripe/{acme_url}/webhook", body, signed(body))
    assert platform_signed.status_code == 400 and error_code(platform_signed) == "INVALID_SIGNATURE"

    own = world.post(f"/stripe/{acme_url}/webhook", body, signed(body, TENANT_SECRET))
    assert own.status_code == 200 and own.json()["events"] == ["applied"]
    assert world.payment(acme, session.payment_id).status.value == "completed"
    unknown = world.post("/stripe/wh_unknown/webhook", other_body, signed(other_body, TENANT_SECRET))
    assert unknown.status_code == 404 and error_code(unknown) == "RESOURCE_NOT_FOUND"


# --- Paystack -------------------------------------------------------------------------------------


def test_a_signed_paystack_charge_completes_once_and_a_forged_one_changes_nothing(world):
    shop = world.tenant("paystack", "NGN")
    url_id = world.configure(shop, "paystack", {"secret_key": PAYSTACK_KEY})
    session = world.checkout(shop, "5000.00")
    reference = session.provider_reference
    world.paystack.pay(reference)
    body = paystack_server.event(
        "charge_success", id=int(uuid.uuid4().int % 10**9), reference=reference, amount=500000, currency="NGN"
    )
    path = f"/paystack/{url_id}/webhook"

    forged = world.post(
        path, body, {"x-paystack-signature": paystack_server.sign("sk_live_" + "b" * 40, body)}
    )
    assert forged.status_code == 400 and error_code(forged) == "INVALID_SIGNATURE"
    assert world.payment(shop, session.payment_id).status.value == "pending" and world.wallet(shop) == 0
    assert world.post(path, body).status_code == 401

    valid = {"x-paystack-signature": paystack_server.sign(PAYSTACK_KEY, body)}
    assert world.post(path, body, valid).json()["events"] == ["applied"]
    assert world.post(path, body, valid).json()["events"] == ["duplicate"]
    payment = world.payment(shop, session.payment_id)
    assert payment.status.value == "completed"
    assert world.wallet(shop) == payment.amount.minor - payment.fee.minor > 0
    assert world.post(f"/mpesa/{url_id}/callback", body).status_code == 404  # another provider's URL


# --- M-Pesa ---------------------------------------------------------------------------------------


def mpesa_push(world: World) -> tuple[TenantHandle, Any, str]:
    """A live STK push of 100 KES; the customer has not answered yet."""
    shop = world.tenant("mpesa", "KES")
    url_id = world.configure(shop, "mpesa", MPESA_CONFIG)
    session = world.checkout(shop, "100.00", phone=PHONE)
    push = world.mpesa.pushes[session.provider_reference]
    assert push["CallBackURL"] == f"{PUBLIC_URL}/api/v1/mpesa/{url_id}/callback"
    return shop, session, f"/mpesa/{url_id}/callback"


def test_a_confirmed_stk_callback_completes_the_payment_once_even_when_delivered_twice(world):
    shop, session, path = mpesa_push(world)
    body = world.mpesa.finish_push(session.provider_reference, result_code=0)

    first, second = world.post(path, body), world.post(path, body)

    assert first.status_code == second.status_code == 200
    assert first.json() == {"ResultCode": 0, "ResultDesc": "Accepted", "events": ["applied"]}
    assert second.json()["events"] == ["duplicate"]
    items = json.loads(body)["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
    receipt = next(item["Value"] for item in items if item["Name"] == "MpesaReceiptNumber")
    payment = world.payment(shop, session.payment_id)
    assert payment.status.value == "completed" and payment.provider_reference == receipt
    assert world.wallet(shop) == payment.amount.minor - payment.fee.minor > 0 and world.transfers(shop) == 1
    assert len(world.mpesa.calls_to("/mpesa/stkpushquery/v1/query")) >= 2  # each delivery was confirmed


def test_a_success_callback_the_query_calls_failed_does_not_complete_the_payment(world):
    shop, session, path = mpesa_push(world)
    body = world.mpesa.finish_push(session.provider_reference, result_code=0)
    world.mpesa.push_results[session.provider_reference] = 1032  # Safaricom's own record: cancelled

    response = world.post(path, body)

    assert response.status_code == 200 and response.json()["events"] == ["applied"]
    assert world.payment(shop, session.payment_id).status.value == "failed" and world.wallet(shop) == 0


def test_a_callback_the_query_still_calls_pending_changes_nothing_until_confirmed(world):
    shop, session, path = mpesa_push(world)
    checkout_id = session.provider_reference
    body = world.mpesa.finish_push(checkout_id, result_code=0)
    del world.mpesa.push_results[checkout_id]  # the query still answers "being processed"

    as_outage = world.post(path, body)  # Daraja's HTTP 500 for "processing" reads as an outage
    assert as_outage.status_code == 503 and error_code(as_outage) == "PROVIDER_UNAVAILABLE"
    world.mpesa.processing_status = 400
    try:
        pending = world.post(path, body)
    finally:
        world.mpesa.processing_status = 500
    assert pending.status_code == 200 and pending.json()["events"] == ["unconfirmed"]
    assert world.payment(shop, session.payment_id).status.value == "pending" and world.wallet(shop) == 0

    world.mpesa.push_results[checkout_id] = 0
    assert world.post(path, body).json()["events"] == ["applied"]
    assert world.payment(shop, session.payment_id).status.value == "completed"


def test_mpesa_down_while_confirming_is_503_and_records_nothing(world):
    shop, session, path = mpesa_push(world)
    body = world.mpesa.finish_push(session.provider_reference, result_code=0)
    world.mpesa.fail_next(3, status=503)

    down = world.post(path, body)

    assert down.status_code == 503 and error_code(down) == "PROVIDER_UNAVAILABLE"
    assert world.payment(shop, session.payment_id).status.value == "pending"
    assert world.post(path, body).json()["events"] == ["applied"]


def test_an_mpesa_callback_on_an_unknown_url_is_404_and_asks_nothing(world):
    queries = len(world.mpesa.calls_to("/mpesa/stkpushquery/v1/query"))
    response = world.post(
        f"/mpesa/wh_{uuid.uuid4().hex}/callback", mpesa_server.contract_bytes("stk_callback_success")
    )
    assert response.status_code == 404 and error_code(response) == "RESOURCE_NOT_FOUND"
    assert len(world.mpesa.calls_to("/mpesa/stkpushquery/v1/query")) == queries


# --- Pesapal --------------------------------------------------------------------------------------


def pesapal_order(world: World) -> tuple[TenantHandle, Any, str]:
    shop = world.tenant("pesapal", "KES")
    url_id = world.configure(shop, "pesapal", PESAPAL_CONFIG)
    session = world.checkout(shop, "250.50", phone=PHONE)
    registered = {ipn["url"] for ipn in world.pesapal.ipns.values()}
    assert f"{PUBLIC_URL}/api/v1/pesapal/{url_id}/ipn" in registered
    return shop, session, f"/pesapal/{url_id}/ipn"


def test_an_ipn_is_confirmed_by_the_order_status_and_completes_the_payment_once(world):
    shop, session, path = pesapal_order(world)
    tracking_id = session.provider_reference

    early = world.post(path, world.pesapal.ipn(tracking_id))  # not paid yet: nothing to apply
    assert early.status_code == 200
    assert world.payment(shop, session.payment_id).status.value == "pending"

    world.pesapal.pay(tracking_id)
    posted = world.post(path, world.pesapal.ipn(tracking_id))
    by_get = world.get(f"{path}?{world.pesapal.ipn(tracking_id, method='GET').decode()}")

    expected = {
        "orderNotificationType": "IPNCHANGE",
        "orderTrackingId": tracking_id,
        "orderMerchantReference": session.id,
        "status": 200,
    }
    assert early.json() == posted.json() == by_get.json() == expected
    payment = world.payment(shop, session.payment_id)
    assert payment.status.value == "completed" and payment.amount == Money.parse("250.50", "KES")
    assert world.wallet(shop) == payment.amount.minor - payment.fee.minor > 0 and world.transfers(shop) == 1


def test_pesapal_down_while_confirming_is_503_and_records_nothing(world):
    shop, session, path = pesapal_order(world)
    world.pesapal.pay(session.provider_reference)
    world.pesapal.fail_next(3, status=500)

    down = world.post(path, world.pesapal.ipn(session.provider_reference))

    assert down.status_code == 503 and error_code(down) == "PROVIDER_UNAVAILABLE"
    assert world.payment(shop, session.payment_id).status.value == "pending"
    assert world.post(path, world.pesapal.ipn(session.provider_reference)).status_code == 200
    assert world.payment(shop, session.payment_id).status.value == "completed"


# --- MercadoPago ----------------------------------------------------------------------------------

PSE_PAYER = {
    "email": "empresa@example.com",
    "entity_type": "individual",
    "first_name": "Maria",
    "last_name": "Garcia",
    "identification": {"type": "CC", "number": "9876543210"},
}


def mercadopago_pse(world: World) -> tuple[TenantHandle, Any, str]:
    """A live PSE payment of 150000 COP, pending at MercadoPago; the tenant's webhook path."""
    shop = world.tenant("sandbox", "COP")
    url_id = world.configure(shop, "mercadopago", {"access_token": MP_TOKEN, "webhook_secret": MP_SECRET})
    payment = world.api.core.direct_payments.create_pse_payment(
        world.live(shop),
        amount=Money.parse("150000", "COP"),
        description="Enterprise plan",
        payer=PSE_PAYER,
        financial_institution="1007",
        callback_url="https://shop.example.com/pse/return",
    )
    assert payment.provider == "mercadopago" and payment.status.value == "pending"
    path = f"/mercadopago/{url_id}/webhook"
    sent = [request for request in world.mercadopago.requests if request.path == "/v1/payments"][-1]
    assert sent.json()["notification_url"] == f"{PUBLIC_URL}/api/v1{path}"
    return shop, payment, path


def notification(data_id: str, action: str, secret: str = MP_SECRET) -> tuple[bytes, dict[str, str]]:
    payload = mercadopago_server.load_contract("notification_payment_updated")
    payload.update(id=int(uuid.uuid4().int % 10**12), live_mode=True, action=action, data={"id": data_id})
    request_id = str(uuid.uuid4())
    signature = mercadopago_server.sign(secret, data_id, request_id, int(time.time()))
    return mercadopago_server.dumps(payload), {"x-signature": signature, "x-request-id": request_id}


def test_an_update_before_its_creation_notice_ends_approved_and_is_applied_once(world):
    shop, payment, path = mercadopago_pse(world)
    data_id = payment.provider_reference
    world.mercadopago.set_status(data_id, "approved", "accredited")
    url = f"{path}?data.id={data_id}&type=payment"

    updated, headers = notification(data_id, "payment.updated")
    spoofed = {**headers, "x-payments-tenant-id": "ten_someone_else", "x-payments-livemode": "false"}
    first = world.post(url, updated, spoofed)
    assert first.status_code == 200 and first.json() == {"received": True}
    completed = world.payment(shop, payment.id)
    assert completed.status.value == "completed"
    credited = world.wallet(shop)
    assert credited == completed.amount.minor - completed.fee.minor > 0

    created, headers = notification(data_id, "payment.created")
    late = world.post(url, created, headers)
    assert late.status_code == 200 and world.payment(shop, payment.id).status.value == "completed"
    assert world.wallet(shop) == credited and world.transfers(shop) == 1


def test_a_forged_or_unconfirmable_mercadopago_notification_changes_nothing(world):
    shop, payment, path = mercadopago_pse(world)
    data_id = payment.provider_reference
    world.mercadopago.set_status(data_id, "approved", "accredited")
    url = f"{path}?data.id={data_id}&type=payment"

    body, forged = notification(data_id, "payment.updated", secret="not-the-tenants-secret")
    response = world.post(url, body, forged)
    assert response.status_code == 400 and error_code(response) == "INVALID_SIGNATURE"
    body, headers = notification(data_id, "payment.updated")
    world.mercadopago.fail_next(3, status=500)
    down = world.post(url, body, headers)
    assert down.status_code == 503 and error_code(down) == "PROVIDER_UNAVAILABLE"
    assert world.payment(shop, payment.id).status.value == "pending" and world.wallet(shop) == 0

    body, headers = notification(data_id, "payment.updated")
    assert world.post(url, body, headers).status_code == 200
    assert world.payment(shop, payment.id).status.value == "completed"
