"""Seed 003: hosted checkout sessions. Amounts in integer minor units (`10000` USD is 100.00).

Invariants
- An amount is exact or refused: a fraction of a minor unit, a non-finite or an out-of-range
  number, or one written with a decimal point (`"10.00"`), is `INVALID_AMOUNT`, never rounded or
  guessed (`minor_units`, shared by the seed-003 controllers).
- The core decides everything else: the `payments:write` scope, MFA step-up for a person (an API
  key may create, server to server), the input rules and the provider call. A refused request
  stores nothing.
- `Idempotency-Key` is honoured twice: the pipeline replays the stored answer, and the same key
  reaches the core, so a retry racing the first request still gets the first session.
- A session is answered with the seed's snake_case fields plus `payment_id` (the payment behind
  it, for `GET /payments/{id}`); GET adds `remaining_seconds`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.openapi.spec import OpenAPIType
from litestar.params import FromPath, JSONBody

from entrypoints.http.dependencies import Caller, IdempotencyKey, Runtime
from entrypoints.http.views import iso
from payments_core.errors import InvalidAmount
from payments_core.model.payments import CheckoutSession
from payments_core.money import MAX_MINOR, Money
from payments_core.services.checkout import SessionView

Currency = Annotated[str, msgspec.Meta(max_length=16)]
# Decoded as a Decimal (see `minor_units`), published as the integer the seed documents.
MinorUnits = Annotated[
    Decimal,
    msgspec.Meta(
        extra_json_schema={
            "description": "integer minor units: 9900 is 99.00 USD",
            "examples": [9900],
            "extra": {"type": OpenAPIType.INTEGER},
        }
    ),
]


class CreateSessionBody(msgspec.Struct, rename="camel"):
    """`methodTypes`, `successUrl`, `cancelUrl` on the wire, as the seed spells them."""

    amount: MinorUnits
    currency: Currency
    reference: str
    method_types: Annotated[list[str], msgspec.Meta(max_length=16)] = []
    success_url: str | None = None
    cancel_url: str | None = None


def minor_units(amount: Decimal, currency: str) -> Money:
    """Seed 003's integer minor units as Money. Decoded as a Decimal so that `99.5` is refused with
    `INVALID_AMOUNT` rather than truncated; the range is checked before any conversion to int.
    An amount written with a decimal point (`"10.00"`, `10.0`) is refused even when whole: its
    writer may mean 10.00 in major units, and guessing would charge a hundredth of it."""
    if not amount.is_finite() or abs(amount) > MAX_MINOR:
        raise InvalidAmount("amount is out of range", field="amount", maximum=MAX_MINOR)
    exponent = amount.as_tuple().exponent
    if not isinstance(exponent, int) or exponent < 0:
        raise InvalidAmount(
            "amount is a whole number of minor units, written without a decimal point (9900 is 99.00)",
            field="amount",
        )
    return Money(int(amount), currency)


def session_json(session: CheckoutSession) -> dict[str, Any]:
    return {
        "id": session.id,
        "status": session.status.value,
        "amount": session.amount.minor,
        "currency": session.amount.currency,
        "reference": session.reference,
        "payment_id": session.payment_id,
        "redirect_url": session.redirect_url,
        "qr_image_url": session.qr_image_url,
        "expires_at": iso(session.expires_at),
        "created_at": iso(session.created_at),
    }


def session_view_json(view: SessionView) -> dict[str, Any]:
    """What `GET /checkout/sessions/{id}` answers; the sandbox helpers answer the same."""
    return {**session_json(view.session), "remaining_seconds": view.remaining_seconds}


class CheckoutController(Controller):
    path = "/checkout/sessions"
    tags = ["checkout (seed 003)"]

    @post(
        "/",
        status_code=201,
        sync_to_thread=True,
        opt={"idempotent": True, "rate_limit": "checkout.create"},
    )
    def create_session(
        self,
        runtime: Runtime,
        principal: Caller,
        data: JSONBody[CreateSessionBody],
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        session = runtime.core.checkout.create_session(
            principal,
            amount=minor_units(data.amount, data.currency),
            reference=data.reference,
            method_types=data.method_types,
            success_url=data.success_url,
            cancel_url=data.cancel_url,
            idempotency_key=idempotency_key,
        )
        return session_json(session)

    @get("/{session_id:str}", sync_to_thread=True, opt={"rate_limit": "checkout.read"})
    def get_session(self, runtime: Runtime, principal: Caller, session_id: FromPath[str]) -> dict[str, Any]:
        return session_view_json(runtime.core.checkout.get_session(principal, session_id))


ROUTES = [CheckoutController]
