"""What a request for a checkout session must be, checked before anything is stored or asked.

The checks every way into a checkout shares (`checkout.create_session`, a payment link, an order)
and `SessionDraft`, the validated request that an idempotent replay must match. Pure: no unit of
work, no provider. Every name stays importable from `checkout`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import attrs

from payments_core.errors import InvalidAmount, ValidationError
from payments_core.model.common import check_text
from payments_core.model.payments import CheckoutSession
from payments_core.money import Money

METHOD_TYPES: Final = frozenset(
    {"card", "credit_card", "debit_card", "pix", "boleto", "pse", "cash", "mpesa", "promptpay",
     "bank_transfer"}
)  # fmt: skip
MAX_REFERENCE: Final = 200
MAX_CUSTOMER_ID: Final = 128
MAX_IDEMPOTENCY_KEY: Final = 255


def validate_amount(amount: object) -> Money:
    if not isinstance(amount, Money):
        raise InvalidAmount("amount must be an amount of money", field="amount")
    if amount.minor <= 0:
        raise InvalidAmount("amount must be greater than zero", field="amount", currency=amount.currency)
    return amount


def validate_text(value: object, field: str, max_length: int) -> str:
    check_text(field, value, max_length)
    text = str(value)
    if not text.strip():
        raise ValidationError(f"{field} must not be blank", field=field)
    return text


def validate_method_types(value: object) -> tuple[str, ...]:
    """Known method names, duplicates dropped, order kept (the first one is tried first)."""
    allowed = sorted(METHOD_TYPES)
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValidationError("methodTypes must be a list", field="methodTypes", allowedValues=allowed)
    if not all(isinstance(method, str) and method in METHOD_TYPES for method in value):
        raise ValidationError("unknown payment method type", field="methodTypes", allowedValues=allowed)
    return tuple(dict.fromkeys(value))


def validate_idempotency_key(value: object) -> str | None:
    return None if value is None else validate_text(value, "idempotencyKey", MAX_IDEMPOTENCY_KEY)


@attrs.frozen
class SessionDraft:
    """A validated request for a session, its provider chosen: what an idempotent replay must match."""

    tenant_id: str
    amount: Money
    reference: str
    livemode: bool
    provider: str
    method_types: tuple[str, ...] = ()
    success_url: str | None = None
    cancel_url: str | None = None
    client_phone_number: str | None = None
    customer_id: str | None = None
    link_slug: str | None = None
    idempotency_key: str | None = None
    # One offered method is as good as chosen; among several, the customer picks on the page.
    selected_payment_method: str | None = attrs.field()

    @selected_payment_method.default
    def _only_method(self) -> str | None:
        return self.method_types[0] if len(self.method_types) == 1 else None

    def matches(self, session: CheckoutSession) -> bool:
        return all(getattr(self, name) == getattr(session, name) for name in _CONTENT)


_CONTENT: Final = (
    "amount", "reference", "livemode", "method_types", "success_url", "cancel_url",
    "client_phone_number", "customer_id", "link_slug", "selected_payment_method",
)  # fmt: skip
