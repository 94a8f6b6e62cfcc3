"""Setup recipes for replaying the published HTTP contract (contracts/http/seed_*.json).

Invariants
- A recipe makes everything one example needs in a fresh tenant of its own, so examples never see
  each other's data; it works through the core (or, where the example is about the HTTP edge
  itself, over HTTP) and answers a `Prepared`: the values of the example's `{placeholders}` and
  the credentials to call with.
- Unless a recipe says otherwise the call carries the tenant's bearer token with every scope and a
  fresh MFA; `headers={}` means a public call, with no credential at all.
- A recipe that changes the shared app (a stand-in provider) registers how to undo it in `undo`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any, Final

import attrs

from payments_core.money import Money
from tests.support.http import Api, TenantHandle, wait_for_a_fresh_window

Recipe = Callable[[Api], "Prepared"]

# Ids the seeds' examples use: in a fresh tenant they are free, so the examples keep them.
SEED_CUSTOMER: Final = "123e4567-e89b-12d3-a456-426614174000"
SEED_PHONE: Final = "5511966609208"
MPESA_PHONE: Final = "254712345678"
KENYAN_PROVIDERS: Final = ("mpesa", "paystack", "pesapal")
# A MercadoPago test-mode configuration (a `TEST-` token puts it in sandbox mode).
MERCADOPAGO_CONFIG: Final = {
    "access_token": "TEST-1111-2222-3333-444455556666",
    "webhook_secret": "mp-webhook-secret-0123456789",
    "mp_user_id": "mp-user-42",
    "mp_application_id": "mp-app-7",
    "mp_public_key": "APP_USR-pub-0001",
    "country": "CO",
    "currency": "COP",
    "payment_methods_enabled": ["credit_card", "debit_card", "pse", "cash"],
}
PSE_PAYER: Final = {
    "email": "empresa@example.com",
    "entity_type": "individual",
    "first_name": "Maria",
    "last_name": "Garcia",
    "identification": {"type": "CC", "number": "9876543210"},
}


@attrs.define
class Prepared:
    """What one example is replayed with."""

    tenant: TenantHandle
    params: dict[str, str] = attrs.Factory(dict)
    # None: the tenant's bearer token (every scope, fresh MFA); {} a public call.
    headers: dict[str, str] | None = None
    # A signed raw body that replaces the example's (a provider's webhook is only accepted signed).
    content: bytes | None = None
    undo: list[Callable[[], None]] = attrs.Factory(list)


def _reference() -> str:
    return f"ord-{uuid.uuid4().hex[:8]}"


# --- callers ----------------------------------------------------------------------------------------


def none(api: Api) -> Prepared:
    return Prepared(api.tenant())


def anonymous(api: Api) -> Prepared:
    return Prepared(api.tenant(), headers={})


def no_mfa(api: Api) -> Prepared:
    """A person whose MFA is not fresh: every scope, but no step-up."""
    tenant = api.tenant()
    return Prepared(tenant, headers={"Authorization": f"Bearer {tenant.token(mfa=False)}"})


def no_scopes(api: Api) -> Prepared:
    """A person with a fresh MFA but no scope at all: refused before any lookup."""
    tenant = api.tenant()
    return Prepared(tenant, headers=tenant.headers(scopes=[]))


# --- payments and sessions -------------------------------------------------------------------------


def paid_payment(api: Api) -> Prepared:
    tenant = api.tenant()
    return Prepared(tenant, {"payment_id": tenant.paid_payment("99.00")})


def refundable_payment(api: Api) -> Prepared:
    """A completed payment the wallet can pay back whole: refunds come out of the wallet, which got
    the payment less its fee, so another sale covers the difference."""
    prepared = paid_payment(api)
    prepared.tenant.paid_payment("100.00")
    return prepared


def pending_payment(api: Api) -> Prepared:
    tenant = api.tenant()
    return Prepared(tenant, {"payment_id": tenant.pending_payment("99.00")})


def checkout_session(api: Api) -> Prepared:
    tenant = api.tenant()
    session = api.core.checkout.create_session(
        tenant.principal(), amount=Money(10000, "USD"), reference="order_12345", method_types=["card"]
    )
    return Prepared(tenant, {"session_id": session.id})


def phone_session(api: Api) -> Prepared:
    """Seed 000: a Brazilian customer's session, found by their phone number."""
    tenant = api.tenant(currency="BRL")
    session = api.core.checkout.create_session(
        tenant.principal(),
        amount=Money.parse("150.00", "BRL"),
        reference=_reference(),
        method_types=["pix"],
        client_phone_number=SEED_PHONE,
    )
    return Prepared(tenant, {"session_id": session.id})


def payments_exhausted(api: Api) -> Prepared:
    """Seed 004's limit, 100 requests a minute per user, already spent by the caller."""
    tenant = api.tenant()
    headers = tenant.headers()
    wait_for_a_fresh_window(api, margin_seconds=20.0)
    for _ in range(100):
        assert api.get("/payments", headers=headers).status_code == 200
    return Prepared(tenant, headers=headers)


def refunds_exhausted(api: Api) -> Prepared:
    """Seed 003's refund limit, 5 a minute per tenant, already spent (on refused refunds)."""
    tenant = api.tenant()
    headers = tenant.headers()
    body = {"paymentId": "payment_uuid", "amount": 5000, "reason": "Customer request"}
    wait_for_a_fresh_window(api)
    for _ in range(5):
        assert api.post("/refunds", json=body, headers=headers).status_code == 404
    return Prepared(tenant, headers=headers)


# --- links, keys, webhooks -------------------------------------------------------------------------


def payment_link(api: Api) -> Prepared:
    """An active link, seen by the public: slugs are global, so each example has its own."""
    tenant = api.tenant()
    link = api.core.links.create_link(
        tenant.principal(),
        amount=Money(9900, "USD"),
        reference="promo_ref",
        slug=f"summer-promo-{uuid.uuid4().hex[:8]}",
    )
    return Prepared(tenant, {"slug": link.slug}, headers={})


def api_key(api: Api) -> Prepared:
    tenant = api.tenant()
    created = api.core.api_keys.create_api_key(tenant.principal(), "Production Server", False)
    return Prepared(tenant, {"key_id": created.key.id})


def webhook_endpoint(api: Api) -> Prepared:
    tenant = api.tenant()
    api.core.webhooks.create_endpoint(tenant.principal(), "https://your-webhook.com/endpoint")
    return Prepared(tenant)


class StripeShapedSandbox:
    """Stands in for the Stripe adapter (not wired yet): the sandbox's signing scheme, read from
    Stripe's header, so the route's raw body and headers reach a real verifier."""

    def __init__(self, api: Api) -> None:
        self.sandbox = api.sandbox

    def parse_webhook(self, headers: dict[str, str], body: bytes, secret: str | None = None) -> Any:
        signature = next((v for k, v in headers.items() if k.lower() == "stripe-signature"), "")
        return self.sandbox.parse_webhook({"Sandbox-Signature": signature}, body, secret)


def stripe_event(api: Api) -> Prepared:
    """A pending payment and the signed event completing it, not yet delivered."""
    tenant = api.tenant()
    session = api.core.checkout.create_session(
        tenant.principal(), amount=Money(2500, "USD"), reference=_reference()
    )
    deliver, api.sandbox.deliver = api.sandbox.deliver, None
    try:
        webhook = api.sandbox.complete_checkout(session.provider_reference)
    finally:
        api.sandbox.deliver = deliver
    providers = api.core.deps.providers
    providers["stripe"] = StripeShapedSandbox(api)
    headers = {"Stripe-Signature": webhook.headers["Sandbox-Signature"], "Content-Type": "application/json"}
    return Prepared(tenant, headers=headers, content=webhook.body, undo=[lambda: providers.pop("stripe")])


# --- MercadoPago -----------------------------------------------------------------------------------


def mercadopago_config(api: Api) -> Prepared:
    """A Colombian tenant with its MercadoPago configuration (test mode)."""
    tenant = api.tenant(currency="COP")
    api.core.provider_config.register_provider_config(tenant.principal(), "mercadopago", MERCADOPAGO_CONFIG)
    return Prepared(tenant)


def mercadopago_webhook(api: Api) -> Prepared:
    """A pending PSE payment and the sandbox-signed event completing it, for the tenant's webhook URL.

    A test-mode configuration is verified by the sandbox adapter, which reads only its own events:
    the seed's MercadoPago-shaped body is replaced by the sandbox's event for this payment."""
    prepared = mercadopago_config(api)
    tenant = prepared.tenant
    payment = api.core.direct_payments.create_pse_payment(
        tenant.principal(),
        amount=Money.parse("250000", "COP"),
        description="Enterprise Plan Payment",
        payer=PSE_PAYER,
        financial_institution="1007",
        callback_url="https://app.example.com/payment/callback",
    )
    config = api.core.provider_config.get_provider_config(tenant.principal(), "mercadopago")
    url_id = config.webhook_path.split("/mercadopago/")[1].removesuffix("/webhook")
    event = {
        "id": f"sbx_evt_{uuid.uuid4().hex[:24]}",
        "type": "payment.succeeded",
        "data": {"reference": payment.provider_reference, "amount": payment.amount.minor, "currency": "COP"},
    }
    body = json.dumps(event, separators=(",", ":")).encode()
    return Prepared(tenant, {"url_id": url_id}, headers=api.sandbox.sign(body), content=body)


# --- customers and the wallet (seed 002, KES) ------------------------------------------------------


def kenyan_customer(api: Api, providers: tuple[str, ...] = KENYAN_PROVIDERS) -> Prepared:
    """A KES tenant offering the seed's providers, and the seed's customer (nothing saved yet)."""
    tenant_id = f"ten_{uuid.uuid4().hex[:12]}"
    api.core.tenants.create_tenant(tenant_id, "Duka", "KES", providers=providers, livemode=False)
    return Prepared(TenantHandle(api, tenant_id, "KES"), {"customer_id": SEED_CUSTOMER})


def stripe_customer(api: Api) -> Prepared:
    """The same, at a tenant that also offers Stripe (the seed shows a Stripe method's details)."""
    return kenyan_customer(api, (*KENYAN_PROVIDERS, "stripe"))


def customer_with_method(api: Api) -> Prepared:
    prepared = kenyan_customer(api)
    view = api.core.customers.save_payment_method(
        prepared.tenant.principal(), SEED_CUSTOMER, "mpesa", {"phone_number": MPESA_PHONE}, True
    )
    prepared.params["method_id"] = view.saved_methods[0].id
    return prepared


def funded_wallet(api: Api) -> Prepared:
    """A KES tenant whose wallet holds 4875.00 (a 5000.00 payment less its fee), paying out to the
    seed's M-Pesa number by default."""
    tenant = api.tenant(currency="KES")
    tenant.paid_payment("5000.00")
    api.core.tenants.configure_withdrawal_method(tenant.principal(), "mpesa", {"phone_number": MPESA_PHONE})
    return Prepared(tenant)


def _withdrawal(api: Api, initiator: str) -> Prepared:
    prepared = funded_wallet(api)
    withdrawal = api.core.wallet.initiate_withdrawal(
        prepared.tenant.principal(initiator),
        Money.parse("1000.00", "KES"),
        "mpesa",
        {"phone_number": MPESA_PHONE},
        "Monthly withdrawal",
    )
    prepared.params["transaction_id"] = withdrawal.id
    return prepared


def pending_withdrawal(api: Api) -> Prepared:
    """Initiated by another person than the caller (alice), as four-eyes approval requires."""
    return _withdrawal(api, initiator="ann")


def own_pending_withdrawal(api: Api) -> Prepared:
    """Initiated by the caller herself: approving it breaks four-eyes."""
    return _withdrawal(api, initiator="alice")


RECIPES: Final[dict[str, Recipe]] = {
    recipe.__name__: recipe
    for recipe in (
        none,
        anonymous,
        no_mfa,
        no_scopes,
        paid_payment,
        refundable_payment,
        pending_payment,
        checkout_session,
        phone_session,
        payments_exhausted,
        refunds_exhausted,
        payment_link,
        api_key,
        webhook_endpoint,
        stripe_event,
        mercadopago_config,
        mercadopago_webhook,
        kenyan_customer,
        stripe_customer,
        customer_with_method,
        funded_wallet,
        pending_withdrawal,
        own_pending_withdrawal,
    )
}
