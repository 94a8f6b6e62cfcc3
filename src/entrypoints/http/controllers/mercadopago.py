"""Seed 001: MercadoPago configuration, direct card and PSE payments, and MercadoPago's webhook.

Invariants
- Every answer is JSON:API: `{"data": {"id", "type", "attributes"}}`; errors `{"errors": [...]}`
  (the error handler renders every refusal under `/api/v1/mercadopago` that way).
- Amounts are decimal major units (`150000` COP) in the currency of the tenant's MercadoPago
  configuration, else the tenant's own. Input is converted exactly; a value with more digits than
  `Decimal` holds exactly is refused at the edge, never rounded.
- A payment the provider rejects is stored (failed, with its `status_detail`) and answered 422
  `payment_rejected`, the seed's error; only successes are kept for `Idempotency-Key` replays.
- The webhook route is public: the request is trusted only once the provider's adapter verified its
  signature. The tenant's configuration picks the adapter: in sandbox mode the sandbox one, which
  accepts only events the platform's sandbox signed (a tenant cannot sign events about another
  tenant's payments); otherwise the MercadoPago one with the tenant's `webhook_secret`, which then
  confirms the notification by fetching the payment with the tenant's credentials (a notification
  carries no status: whatever order they arrive in, the payment's current state is applied once).
  The route sets the adapter's pseudo-headers itself (tenant, mode of the tenant's credentials,
  the `data.id` of the query string), dropping any a caller sent.
- Missing signature: 401 `UNAUTHENTICATED`; one that does not verify: 400 `INVALID_SIGNATURE`; no
  webhook secret configured, or MercadoPago down while confirming: 503 `PROVIDER_UNAVAILABLE`.
  Nothing is recorded in any of these cases, so MercadoPago keeps retrying instead of having an
  unverified event acknowledged and lost. Events apply to the URL's tenant's payments only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Final

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, JSONBody, RawBody

from adapters.providers.mercadopago import LIVEMODE_HEADER, QUERY_DATA_ID_HEADER, TENANT_HEADER
from entrypoints.http.controllers.provider_webhooks import (
    endpoint_of,
    require_signature,
    signature_checked,
    tenant_secret,
)
from entrypoints.http.dependencies import Caller, Runtime
from entrypoints.http.runtime import HttpRuntime
from entrypoints.http.views import iso, major, parse_major
from payments_core.model.payments import Payment
from payments_core.money import Money
from payments_core.policies import Principal
from payments_core.services.context import SANDBOX
from payments_core.services.provider_config import ProviderConfigView
from payments_core.states import PaymentStatus

PROVIDER: Final = "mercadopago"
PSEUDO_HEADERS: Final = frozenset({QUERY_DATA_ID_HEADER, TENANT_HEADER, LIVEMODE_HEADER})
# MercadoPago's vocabulary for our payment statuses.
MP_STATUS: Final = {
    PaymentStatus.PENDING: "pending",
    PaymentStatus.COMPLETED: "approved",
    PaymentStatus.FAILED: "rejected",
    PaymentStatus.CANCELLED: "cancelled",
    PaymentStatus.PARTIALLY_REFUNDED: "approved",
    PaymentStatus.REFUNDED: "refunded",
}
Text = Annotated[str, msgspec.Meta(max_length=500)]


class Identification(msgspec.Struct, forbid_unknown_fields=True):
    type: str | None = None
    number: str | None = None


class CardPayer(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    first_name: str | None = None
    last_name: str | None = None
    identification: Identification | None = None


class CardPayment(msgspec.Struct, forbid_unknown_fields=True):
    transaction_amount: Decimal
    description: Text
    payment_method_id: str
    token: str
    payer: CardPayer
    installments: int = 1
    metadata: dict[str, Any] | None = None


class CardPaymentBody(msgspec.Struct, forbid_unknown_fields=True):
    payment: CardPayment


class PsePayer(msgspec.Struct, forbid_unknown_fields=True):
    """Every field is required by the seed; the core checks presence and names the missing one."""

    email: str | None = None
    entity_type: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    identification: Identification | None = None


class TransactionDetails(msgspec.Struct, forbid_unknown_fields=True):
    financial_institution: str | None = None


class PsePayment(msgspec.Struct, forbid_unknown_fields=True):
    transaction_amount: Decimal
    description: Text
    payer: PsePayer
    transaction_details: TransactionDetails
    callback_url: str
    metadata: dict[str, Any] | None = None


class PsePaymentBody(msgspec.Struct, forbid_unknown_fields=True):
    payment: PsePayment


def payer_of(payer: msgspec.Struct) -> dict[str, Any]:
    """The payer as the core takes it: nested objects as dicts, fields not sent left out."""
    given: dict[str, Any] = msgspec.to_builtins(payer)
    return {name: value for name, value in given.items() if value is not None}


def config_json(view: ProviderConfigView, base_url: str) -> dict[str, Any]:
    return {
        "data": {
            "id": view.unique_id,
            "type": "mercadopago_config",
            "attributes": {
                "unique_id": view.unique_id,
                "public_key": view.public_key,
                "country": view.country,
                "currency": view.currency,
                "sandbox_mode": view.sandbox_mode,
                "webhook_url": base_url.rstrip("/") + view.webhook_path,
                "payment_methods_enabled": list(view.payment_methods_enabled or ()),
                "created_at": iso(view.created_at),
            },
        }
    }


def mp_payment_id(reference: str | None) -> int | str | None:
    """MercadoPago's ids are integers; another provider's (the sandbox's) reference stays text."""
    return int(reference) if reference is not None and reference.isdigit() else reference


def payment_json(payment: Payment, payment_method_id: str, **extra: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "unique_id": payment.id,
        "mp_payment_id": mp_payment_id(payment.provider_reference),
        "transaction_amount": major(payment.amount),
        "currency": payment.amount.currency,
        "status": MP_STATUS[payment.status],
        "status_detail": payment.status_detail,
        "payment_method_id": payment_method_id,
        **extra,
        "metadata": dict(payment.metadata),
        "created_at": iso(payment.created_at),
    }
    return {"data": {"id": payment.id, "type": "mercadopago_payment", "attributes": attributes}}


def created(payment: Payment, payment_method_id: str, **extra: Any) -> Response[dict[str, Any]]:
    """201 with the payment, or the seed's 422 `payment_rejected` when the provider refused it."""
    if payment.status is not PaymentStatus.FAILED:
        return Response(payment_json(payment, payment_method_id, **extra), status_code=201)
    detail = payment.status_detail or "rejected"
    rejected_by = "the card issuer" if payment.method == "card" else "the provider"
    error = {
        "status": "422",
        "code": "payment_rejected",
        "title": "Payment Rejected",
        "detail": f"The payment was rejected by {rejected_by}. Status: {detail}.",
        "meta": {"unique_id": payment.id, "status_detail": detail},
    }
    return Response({"errors": [error]}, status_code=422)


def transaction_amount(runtime: HttpRuntime, principal: Principal, value: Decimal) -> Money:
    currency = runtime.core.tenants.payment_currency(principal.tenant_id, PROVIDER)
    return parse_major(value, currency, "transaction_amount")


class MercadoPagoController(Controller):
    path = "/mercadopago"
    tags = ["MercadoPago (seed 001)"]

    @get("/", sync_to_thread=True)
    def get_config(self, runtime: Runtime, principal: Caller) -> dict[str, Any]:
        view = runtime.core.provider_config.get_provider_config(principal, PROVIDER)
        return config_json(view, runtime.settings.public_base_url)

    @post("/payments", sync_to_thread=True, opt={"idempotent": True})
    def create_payment(
        self, runtime: Runtime, principal: Caller, data: JSONBody[CardPaymentBody]
    ) -> Response[dict[str, Any]]:
        given = data.payment
        amount = transaction_amount(runtime, principal, given.transaction_amount)
        payer = payer_of(given.payer)
        payment = runtime.core.direct_payments.create_card_payment(
            principal,
            amount=amount,
            description=given.description,
            payment_method_id=given.payment_method_id,
            token=given.token,
            payer_email=payer.pop("email"),
            installments=given.installments,
            payer=payer,
            metadata=given.metadata,
            provider=PROVIDER,
        )
        return created(payment, given.payment_method_id, installments=given.installments)

    @post("/payments/pse", sync_to_thread=True, opt={"idempotent": True})
    def create_pse_payment(
        self, runtime: Runtime, principal: Caller, data: JSONBody[PsePaymentBody]
    ) -> Response[dict[str, Any]]:
        given = data.payment
        amount = transaction_amount(runtime, principal, given.transaction_amount)
        payment = runtime.core.direct_payments.create_pse_payment(
            principal,
            amount=amount,
            description=given.description,
            payer=payer_of(given.payer),
            financial_institution=given.transaction_details.financial_institution,
            callback_url=given.callback_url,
            metadata=given.metadata,
        )
        return created(payment, "pse", external_resource_url=payment.external_resource_url)

    @post(
        "/{url_id:str}/webhook",
        status_code=200,
        sync_to_thread=True,
        opt={"public": True, "rate_limit": "webhooks.inbound"},
    )
    def receive_webhook(
        self, runtime: Runtime, request: Request[Any, Any, Any], url_id: FromPath[str], body: RawBody
    ) -> dict[str, bool]:
        """Verified and applied by the core, or refused; a duplicate is acknowledged, not reapplied."""
        endpoint = endpoint_of(runtime, PROVIDER, url_id)
        headers = {
            name: value for name, value in request.headers.items() if name.lower() not in PSEUDO_HEADERS
        }
        events = runtime.core.provider_events
        if endpoint.sandbox_mode:
            require_signature(headers, "Sandbox-Signature")
            with signature_checked():
                events.receive_webhook(SANDBOX, headers, body, tenant_id=endpoint.tenant_id)
            return {"received": True}
        require_signature(headers, "x-signature")
        secret = tenant_secret(runtime, endpoint, "webhook_secret")
        headers[TENANT_HEADER] = endpoint.tenant_id
        headers[LIVEMODE_HEADER] = "true" if endpoint.livemode else "false"
        data_id = request.query_params.get("data.id")
        if data_id:
            headers[QUERY_DATA_ID_HEADER] = data_id
        with signature_checked():
            events.receive_webhook(PROVIDER, headers, body, secret, tenant_id=endpoint.tenant_id)
        return {"received": True}


ROUTES = [MercadoPagoController]
