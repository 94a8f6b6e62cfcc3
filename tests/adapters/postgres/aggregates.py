"""Sample aggregates for the PostgreSQL adapter tests: every field set, and hypothesis strategies.

`full_samples()` gives one instance of every aggregate with every optional field set to a
non-default value, so that a round trip that drops or mangles any field is caught.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

from adapters.memory.clock import ManualClock
from adapters.postgres.uow import PostgresUnitOfWorkFactory
from payments_core.model.access import ApiKey, Tenant
from payments_core.model.customers import CustomerPreferences, SavedMethod
from payments_core.model.integrations import (
    AuditEvent,
    OutboundEvent,
    ProviderConfig,
    ProviderEventRecord,
    WebhookEndpoint,
)
from payments_core.model.links import PaymentLink
from payments_core.model.payments import CheckoutSession, Payment, Refund
from payments_core.model.wallet import Withdrawal, WithdrawalMethod
from payments_core.money import Money
from payments_core.states import (
    CheckoutSessionStatus,
    PaymentLinkStatus,
    PaymentStatus,
    RefundStatus,
    WithdrawalStatus,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
EAT = timezone(timedelta(hours=3))  # an offset other than UTC, kept by the round trip


def kes(minor: int) -> Money:
    return Money(minor, "KES")


def tenant(tenant_id: str = "t1", **fields) -> Tenant:
    return Tenant(**{"id": tenant_id, "name": "Tenant", "currency": "KES", "created_at": T0} | fields)


def session(session_id: str, tenant_id: str = "t1", **fields) -> CheckoutSession:
    values = {
        "id": session_id, "tenant_id": tenant_id, "payment_id": f"pay_{session_id}", "amount": kes(1000),
        "reference": "order-1", "provider": "sandbox", "provider_reference": f"sbx_{tenant_id}_{session_id}",
        "redirect_url": "/pay", "expires_at": T0 + timedelta(minutes=30), "created_at": T0, "updated_at": T0,
    }  # fmt: skip
    return CheckoutSession(**values | fields)


def payment(payment_id: str, tenant_id: str = "t1", **fields) -> Payment:
    values = {
        "id": payment_id, "tenant_id": tenant_id, "amount": kes(1000), "method": "mpesa",
        "provider": "sandbox", "created_at": T0, "updated_at": T0,
    }  # fmt: skip
    return Payment(**values | fields)


def refund(refund_id: str, payment_id: str, tenant_id: str = "t1", **fields) -> Refund:
    values = {
        "id": refund_id, "tenant_id": tenant_id, "payment_id": payment_id, "amount": kes(500),
        "fee_share": kes(12), "provider": "sandbox", "hold_id": f"{refund_id}.hold", "created_at": T0,
        "updated_at": T0,
    }  # fmt: skip
    return Refund(**values | fields)


def withdrawal(withdrawal_id: str, tenant_id: str = "t1", **fields) -> Withdrawal:
    values = {
        "id": withdrawal_id, "tenant_id": tenant_id, "amount": kes(100_000), "fee": kes(3_300),
        "net_amount": kes(96_700), "method_type": WithdrawalMethod.MPESA,
        "method_details": {"phone_number": "254712345678"}, "initiated_by": "alice",
        "hold_id": f"{withdrawal_id}.hold", "provider": "sandbox", "created_at": T0, "updated_at": T0,
    }  # fmt: skip
    return Withdrawal(**values | fields)


def link(slug: str, tenant_id: str = "t1", **fields) -> PaymentLink:
    values = {"slug": slug, "tenant_id": tenant_id, "amount": kes(9_900), "reference": "promo",
              "created_at": T0, "updated_at": T0}  # fmt: skip
    return PaymentLink(**values | fields)


def api_key(key_id: str, tenant_id: str = "t1", **fields) -> ApiKey:
    values = {
        "id": key_id, "tenant_id": tenant_id, "name": "server", "prefix": "sk_test", "last4": "abcd",
        "secret_hash": f"hash_{tenant_id}_{key_id}", "scopes": frozenset({"payments:read"}),
        "created_by": "alice", "created_at": T0,
    }  # fmt: skip
    return ApiKey(**values | fields)


def provider_config(provider: str, tenant_id: str = "t1", **fields) -> ProviderConfig:
    values = {
        "id": f"pc_{tenant_id}_{provider}", "tenant_id": tenant_id, "provider": provider,
        "url_id": f"url_{tenant_id}_{provider}", "settings": {"mode": "test"},
        "sealed_secrets": {"access_token": "sealed:1"}, "secret_hints": {"access_token": "APP_USR-…1234"},
        "created_at": T0, "updated_at": T0,
    }  # fmt: skip
    return ProviderConfig(**values | fields)


def endpoint(endpoint_id: str, tenant_id: str = "t1", **fields) -> WebhookEndpoint:
    values = {"id": endpoint_id, "tenant_id": tenant_id, "url": "https://example.com/hook",
              "sealed_secret": "sealed:2", "event_types": ("payment.completed",), "created_at": T0}  # fmt: skip
    return WebhookEndpoint(**values | fields)


def outbound(event_id: str, tenant_id: str = "t1", **fields) -> OutboundEvent:
    values = {"id": event_id, "tenant_id": tenant_id, "type": "payment.completed", "created_at": T0}
    return OutboundEvent(**values | fields)


def audit_event(event_id: str, tenant_id: str = "t1", **fields) -> AuditEvent:
    values = {
        "id": event_id, "tenant_id": tenant_id, "action": "payment.refunded", "actor_kind": "user",
        "actor_id": "alice", "target_type": "payment", "target_id": "pay_1", "at": T0,
    }  # fmt: skip
    return AuditEvent(**values | fields)


def provider_event(event_id: str, **fields) -> ProviderEventRecord:
    values = {"provider": "sandbox", "event_id": event_id, "type": "payment.succeeded",
              "reference": "sbx_1", "received_at": T0}  # fmt: skip
    return ProviderEventRecord(**values | fields)


def preferences(customer_id: str, tenant_id: str = "t1", **fields) -> CustomerPreferences:
    return CustomerPreferences(**{"tenant_id": tenant_id, "customer_id": customer_id} | fields)


def full_samples() -> list[object]:
    """One of each aggregate, every optional field set."""
    later = datetime(2026, 3, 2, 12, 30, 15, 123456, tzinfo=EAT)
    method = SavedMethod("pm_1", "mpesa", {"phone_number": "254712345678"}, later, is_default=True)
    return [
        tenant("t1", livemode=False, providers=("sandbox", "mpesa"), method_providers={"mpesa": "mpesa"},
               withdrawal_method="till", withdrawal_details={"till_number": "123456"}),
        session("cs_1", status=CheckoutSessionStatus.COMPLETED, method_types=("mpesa", "card"),
                success_url="https://shop/ok", cancel_url="https://shop/no", qr_image_url="/qr.svg",
                idempotency_key="idem-1", client_phone_number="254712345678", customer_id="cus_1",
                link_slug="promo", selected_payment_method="mpesa", confirmed_at=later, livemode=False),
        payment("pay_1", status=PaymentStatus.PARTIALLY_REFUNDED, description="Premium plan",
                provider_reference="sbx_py_1", session_id="cs_1", subscription_id="sub_1",
                customer_id="cus_1", fee=kes(25), fee_refundable=True, refunded=kes(500),
                metadata={"orderId": "A-1", "items": [1, 2.5, None, True, {"sku": "x"}], "big": 2**70},
                status_detail="accredited", external_resource_url="https://bank/pse", livemode=False),
        refund("re_1", "pay_1", reason="Customer request", status=RefundStatus.FAILED,
               provider_refund_id="sbx_re_1", failure_reason="declined"),
        preferences("cus_1", preferred_provider="mpesa", saved_methods=(method,), updated_at=later),
        link("promo", created_by="alice", livemode=False, description="Summer", expires_at=later,
             usage_limit=10, used=2, reserved=1, status=PaymentLinkStatus.INACTIVE),
        withdrawal("wd_1", livemode=False, status=WithdrawalStatus.FAILED, notes="monthly",
                   approved_by="bob", idempotency_key="idem-w", provider_reference="sbx_po_1",
                   provider_response={"response_code": "1"}, cancel_reason="n/a", failure_reason="no"),
        api_key("key_1", scopes=frozenset({"refunds:create", "payments:read", "api_keys.manage"}),
                livemode=False, revoked_at=later),
        provider_config("mercadopago", settings={"public_key": "APP_USR-1", "installments": 3}),
        endpoint("we_1", description="orders", deleted_at=later, event_types=("a", "b")),
        outbound("evt_1", data={"id": "pay_1", "amount": 1000}, endpoint_id="we_1", livemode=False),
        audit_event("aud_1", details={"reason": "asked", "amount": 500}),
        provider_event("sbx_evt_1", tenant_id="t1", details={"status": "ok"}),
    ]  # fmt: skip


# --- strategies ------------------------------------------------------------------------------------

offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
aware_times = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=offsets | st.just(UTC)
)
# What PostgreSQL text and jsonb can hold: no NUL, no lone surrogate.
storable_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | storable_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(storable_text, inner, max_size=4),
    max_leaves=12,
)
metadata = st.dictionaries(storable_text, json_values, max_size=5)
moneys = st.builds(
    Money, st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1), st.sampled_from(["KES", "USD", "CLP"])
)

payments = st.builds(
    payment,
    payment_id=storable_text.filter(bool),
    tenant_id=st.just("t1"),
    amount=moneys,
    created_at=aware_times,
    updated_at=aware_times,
    status=st.sampled_from(PaymentStatus),
    description=storable_text,
    fee=st.none() | moneys,
    metadata=metadata,
    provider_reference=st.none() | storable_text,
)
api_keys = st.builds(
    api_key,
    key_id=storable_text.filter(bool),
    scopes=st.frozensets(storable_text, max_size=6),
    created_at=aware_times,
    revoked_at=st.none() | aware_times,
)
provider_configs = st.builds(
    provider_config,
    provider=storable_text.filter(bool),
    settings=metadata,
    sealed_secrets=st.dictionaries(storable_text, storable_text, max_size=3),
)


# --- wiring ---------------------------------------------------------------------------------------


def factory_with_tenants(pool, *tenant_ids: str):
    """A PostgreSQL unit-of-work factory on `pool`, the tenants already stored."""
    factory = PostgresUnitOfWorkFactory(pool, ManualClock(T0))
    with factory() as work:
        for tenant_id in tenant_ids:
            work.tenants.add(tenant(tenant_id))
        work.commit()
    return factory


def store(work, sample) -> None:
    """Store one aggregate through its own repository (saved, added, appended or recorded)."""
    repository, method = STORED_BY[type(sample).__name__]
    getattr(getattr(work, repository), method)(sample)


STORED_BY = {
    "Tenant": ("tenants", "add"),
    "CheckoutSession": ("sessions", "add"),
    "Payment": ("payments", "add"),
    "Refund": ("refunds", "add"),
    "CustomerPreferences": ("customers", "save"),
    "PaymentLink": ("links", "add"),
    "Withdrawal": ("withdrawals", "add"),
    "ApiKey": ("api_keys", "add"),
    "ProviderConfig": ("provider_configs", "save"),
    "WebhookEndpoint": ("webhook_endpoints", "add"),
    "OutboundEvent": ("outbox", "add"),
    "AuditEvent": ("audit", "append"),
    "ProviderEventRecord": ("provider_events", "record"),
}
