"""Seed 003: `POST /refunds`, giving a completed payment's money back, in integer minor units.

Invariants
- The amount is in the payment's currency (the seed's body names none): the edge reads the
  payment, tenant-scoped, only to learn it, and only after the same scope (`refunds:create`) and
  MFA step-up checks the core makes, so a refused caller learns nothing about the payment.
- Omitting `amount` refunds everything that is left. The core validates the rest (reason up to
  500 characters, the remainder, the wallet covering it) before anything is stored.
- `Idempotency-Key` is replayed by the pipeline and also reaches the core, whose refund id is
  derived from it: one key, one refund, one ledger hold.
- The answer carries the seed's fields (`refundId`, `status`, `amount`, `providerRefundId`) and
  the payment, currency and reason; `status` is what the provider answered (the sandbox settles
  at once: `succeeded`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Controller, post
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.params import JSONBody

from entrypoints.http.controllers.checkout import minor_units
from entrypoints.http.dependencies import Caller, IdempotencyKey, Runtime
from entrypoints.http.runtime import HttpRuntime
from payments_core.policies import Operation, Principal, StepUpAction, require_scope, require_step_up
from payments_core.services.context import found
from payments_core.services.refunds import refund_view

OptionalMinorUnits = Annotated[
    Decimal | None,
    msgspec.Meta(
        extra_json_schema={
            "description": "integer minor units (9900 is 99.00); absent: all that is left to refund",
            "examples": [5000],
            "extra": {"one_of": [Schema(type=OpenAPIType.INTEGER), Schema(type=OpenAPIType.NULL)]},
        }
    ),
]
PaymentId = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class CreateRefundBody(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """Seed 003's body. An absent amount refunds all that is left, so a field this body does not
    know (`amount_cents`, `refundAmount`) is refused rather than ignored into a whole refund."""

    payment_id: PaymentId
    amount: OptionalMinorUnits = None
    reason: str | None = None


def _payment_currency(runtime: HttpRuntime, principal: Principal, payment_id: str) -> str:
    """The currency the seed's bare amount is in. The core's refusals (scope, MFA) come first, so
    the read tells nothing to a caller the core would refuse; the core checks both again."""
    require_scope(principal, Operation.REFUNDS_CREATE)
    require_step_up(principal, StepUpAction.REFUND, runtime.core.deps.clock.now())
    with runtime.core.deps.uow() as uow:
        payment = found(uow.payments.get(principal.tenant_id, payment_id), "payment", payment_id)
    return payment.amount.currency


class RefundsController(Controller):
    path = "/refunds"
    tags = ["refunds (seed 003)"]

    @post(
        "/",
        status_code=201,
        sync_to_thread=True,
        opt={"idempotent": True, "rate_limit": "refunds.create"},
    )
    def create_refund(
        self,
        runtime: Runtime,
        principal: Caller,
        data: JSONBody[CreateRefundBody],
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        amount = None
        if data.amount is not None:
            amount = minor_units(data.amount, _payment_currency(runtime, principal, data.payment_id))
        refund = runtime.core.refunds.create_refund(
            principal, data.payment_id, amount, data.reason, idempotency_key
        )
        return refund_view(refund)


ROUTES = [RefundsController]
