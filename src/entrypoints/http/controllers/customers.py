"""Seed 002: a customer's payment preferences and checkout options, and checking out an order.

Invariants
- Amounts are decimal major units (`1000.00` KES) in the tenant's currency unless a request names
  another; they are parsed exactly (`views.parse_major`) and never rounded: an over-precise or
  absurdly large amount is 400 `INVALID_AMOUNT` before any work is done. A JSON body never passes
  through a float on the way (`requests.ExactJsonRequest`).
- Preferences live per tenant: a customer id of another tenant reads as a customer never seen
  (empty preferences) and its saved method ids answer 404 `RESOURCE_NOT_FOUND`.
- The core checks the scope (`conversations:view`; an order checkout also takes `payments:write`).
- Creating POSTs replay their first answer for the same `Idempotency-Key`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.params import FromPath, JSONBody, QueryParameter

from entrypoints.http.dependencies import Caller, IdempotencyKey, Runtime, tenant_currency
from entrypoints.http.views import iso, major, parse_major
from payments_core.model.customers import SavedMethod
from payments_core.model.payments import CheckoutSession
from payments_core.services.customers import CheckoutOptions, PreferencesView

Provider = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Currency = Annotated[str, msgspec.Meta(min_length=1, max_length=8)]


class ProviderBody(msgspec.Struct):
    provider: Provider


class SaveMethodBody(msgspec.Struct):
    provider: Provider
    details: Annotated[dict[str, Annotated[str, msgspec.Meta(max_length=256)]], msgspec.Meta(max_length=10)]
    set_as_default: bool = False


class OrderCheckoutBody(msgspec.Struct):
    customer_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    amount: Decimal
    provider: Provider | None = None
    method_details: dict[str, str] | None = None
    currency: Currency | None = None


def method_json(method: SavedMethod) -> dict[str, Any]:
    return {
        "id": method.id,
        "provider": method.provider,
        "details": dict(method.details),
        "saved_at": iso(method.saved_at),
        "is_default": method.is_default,
    }


def preferences_json(view: PreferencesView) -> dict[str, Any]:
    return {
        "preferred_provider": view.preferred_provider,
        "saved_methods": [method_json(method) for method in view.saved_methods],
        "available_providers": list(view.available_providers),
    }


def checkout_options_json(options: CheckoutOptions) -> dict[str, Any]:
    preferred = options.preferred_method
    return {
        "preferred_provider": options.preferred_provider,
        "preferred_method": method_json(preferred) if preferred is not None else None,
        "available_providers": list(options.available_providers),
        "saved_methods": [method_json(method) for method in options.saved_methods],
        "can_change_provider": options.can_change_provider,
        "amount": major(options.amount),
        "currency": options.amount.currency,
    }


def order_checkout_json(order_id: str, session: CheckoutSession) -> dict[str, Any]:
    """Seed 002 names no fields for this answer: the session in the seed's snake_case."""
    return {
        "message": "Checkout initiated successfully",
        "order_id": order_id,
        "session_id": session.id,
        "payment_id": session.payment_id,
        "customer_id": session.customer_id,
        "provider": session.selected_payment_method,
        "amount": major(session.amount),
        "currency": session.amount.currency,
        "status": session.status.value,
        "checkout_url": session.redirect_url,
        "expires_at": iso(session.expires_at),
    }


def _changed(message: str, view: PreferencesView) -> dict[str, Any]:
    return {"message": message, "preferences": preferences_json(view)}


class CustomersController(Controller):
    path = "/customers"
    tags = ["customers (seed 002)"]

    @get("/{customer_id:str}/payment-preferences", sync_to_thread=True)
    def get_preferences(
        self, runtime: Runtime, principal: Caller, customer_id: FromPath[str]
    ) -> dict[str, Any]:
        return preferences_json(runtime.core.customers.get_preferences(principal, customer_id))

    @get("/{customer_id:str}/checkout-options", sync_to_thread=True)
    def checkout_options(
        self,
        runtime: Runtime,
        principal: Caller,
        customer_id: FromPath[str],
        amount: Annotated[str, QueryParameter(max_length=64)],
    ) -> dict[str, Any]:
        price = parse_major(amount, tenant_currency(runtime, principal))
        return checkout_options_json(runtime.core.customers.checkout_options(principal, customer_id, price))

    @put("/{customer_id:str}/preferred-provider", sync_to_thread=True)
    def set_preferred_provider(
        self, runtime: Runtime, principal: Caller, customer_id: FromPath[str], data: JSONBody[ProviderBody]
    ) -> dict[str, Any]:
        view = runtime.core.customers.set_preferred_provider(principal, customer_id, data.provider)
        return _changed("Preferred provider updated successfully", view)

    @post(
        "/{customer_id:str}/payment-methods", status_code=201, sync_to_thread=True, opt={"idempotent": True}
    )
    def save_payment_method(
        self, runtime: Runtime, principal: Caller, customer_id: FromPath[str], data: JSONBody[SaveMethodBody]
    ) -> dict[str, Any]:
        view = runtime.core.customers.save_payment_method(
            principal, customer_id, data.provider, data.details, data.set_as_default
        )
        return _changed("Payment method saved successfully", view)

    @delete("/{customer_id:str}/payment-methods/{method_id:str}", status_code=200, sync_to_thread=True)
    def remove_payment_method(
        self, runtime: Runtime, principal: Caller, customer_id: FromPath[str], method_id: FromPath[str]
    ) -> dict[str, Any]:
        view = runtime.core.customers.remove_payment_method(principal, customer_id, method_id)
        return _changed("Payment method removed successfully", view)

    @put("/{customer_id:str}/payment-methods/{method_id:str}/default", sync_to_thread=True)
    def set_default_method(
        self, runtime: Runtime, principal: Caller, customer_id: FromPath[str], method_id: FromPath[str]
    ) -> dict[str, Any]:
        view = runtime.core.customers.set_default_method(principal, customer_id, method_id)
        return _changed("Default payment method updated successfully", view)


class OrdersController(Controller):
    path = "/orders"
    tags = ["customers (seed 002)"]

    @post("/{order_id:str}/checkout", status_code=201, sync_to_thread=True, opt={"idempotent": True})
    def checkout_order(
        self,
        runtime: Runtime,
        principal: Caller,
        order_id: FromPath[str],
        data: JSONBody[OrderCheckoutBody],
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        price = parse_major(data.amount, data.currency or tenant_currency(runtime, principal))
        session = runtime.core.orders.checkout_order(
            principal,
            order_id,
            data.customer_id,
            price,
            data.provider,
            data.method_details,
            idempotency_key,
        )
        return order_checkout_json(order_id, session)


ROUTES = [CustomersController, OrdersController]
