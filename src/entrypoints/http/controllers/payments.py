"""Seed 004: the tenant's payments. Amounts in integer minor units (cents)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from entrypoints.http.dependencies import Caller, IdempotencyKey, Runtime
from entrypoints.http.views import iso, parse_time
from payments_core.model.payments import Payment
from payments_core.services.payments import parse_payment_status
from payments_core.services.views import view_payment


class ReasonBody(msgspec.Struct, forbid_unknown_fields=True):
    """Seed 004's cancel and refund take a reason and nothing else. Another field is refused, not
    ignored: `{"amount": 6000}` sent to refund part of a payment must not refund all of it (a
    partial refund is `POST /refunds` with its amount)."""

    reason: Annotated[str, msgspec.Meta(max_length=500)] | None = None


def payment_json(payment: Payment, detailed: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": payment.id,
        "amount": payment.amount.minor,
        "currency": payment.amount.currency,
        "status": payment.status.value,
        "method": payment.method,
        "createdAt": iso(payment.created_at),
        "updatedAt": iso(payment.updated_at),
        "description": payment.description,
        "metadata": dict(payment.metadata),
    }
    if payment.subscription_id is not None:
        body["subscriptionId"] = payment.subscription_id
    if detailed:
        body["transactionId"] = payment.provider_reference
        body["receiptUrl"] = payment.external_resource_url
    return body


class PaymentsController(Controller):
    path = "/payments"
    tags = ["payments (seed 004)"]

    @get("/")
    async def list_payments(
        self,
        runtime: Runtime,
        principal: Caller,
        page: Annotated[int, QueryParameter(ge=1)] = 1,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 10,
        status: Annotated[str | None, QueryParameter()] = None,
        start_date: Annotated[str | None, QueryParameter(name="startDate")] = None,
        end_date: Annotated[str | None, QueryParameter(name="endDate")] = None,
    ) -> dict[str, Any]:
        wanted = parse_payment_status(status) if status is not None else None
        found = runtime.core.payments.list_payments(
            principal,
            page,
            limit,
            wanted,
            parse_time(start_date, "startDate"),
            parse_time(end_date, "endDate"),
        )
        paging = found.pagination
        return {
            "payments": [payment_json(payment) for payment in found.items],
            "pagination": {
                "currentPage": paging.current_page,
                "totalPages": paging.total_pages,
                "totalItems": paging.total_items,
                "itemsPerPage": paging.items_per_page,
            },
        }

    @get("/{payment_id:str}")
    async def get_payment(
        self, runtime: Runtime, principal: Caller, payment_id: FromPath[str]
    ) -> dict[str, Any]:
        payment = await view_payment(runtime.views, principal, payment_id)
        return payment_json(payment, detailed=True)

    @post("/{payment_id:str}/cancel", status_code=200, sync_to_thread=True)
    def cancel_payment(
        self,
        runtime: Runtime,
        principal: Caller,
        payment_id: FromPath[str],
        data: JSONBody[ReasonBody | None] = None,
    ) -> dict[str, Any]:
        reason = data.reason if data else None
        payment = runtime.core.payments.cancel_payment(principal, payment_id, reason)
        return {"success": True, "payment": payment_json(payment), "message": "Payment cancelled"}

    @post(
        "/{payment_id:str}/refund",
        status_code=200,
        sync_to_thread=True,
        opt={"idempotent": True, "rate_limit": "refunds.create"},
    )
    def refund_payment(
        self,
        runtime: Runtime,
        principal: Caller,
        payment_id: FromPath[str],
        idempotency_key: IdempotencyKey = None,
        data: JSONBody[ReasonBody | None] = None,
    ) -> dict[str, Any]:
        reason = data.reason if data else None
        payment = runtime.core.payments.refund_payment(principal, payment_id, reason, idempotency_key)
        return {
            "success": True,
            "payment": payment_json(payment),
            "message": "Payment refunded; the amount reaches the customer within 10 business days",
        }


ROUTES = [PaymentsController]
