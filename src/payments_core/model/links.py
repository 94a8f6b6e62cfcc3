"""Payment links: a public slug anyone can pay, within an expiry and a usage limit.

Invariants
- `used` counts completed payments, `reserved` the checkouts started and still pending.
- A link can start a checkout only while active, not expired, and `used + reserved < limit`:
  concurrent customers can never oversell it.
- active -> inactive, never back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from payments_core.model.common import aware, text
from payments_core.money import Money
from payments_core.states import PAYMENT_LINK, PaymentLinkStatus


@attrs.frozen
class PaymentLink:
    slug: str
    tenant_id: str
    amount: Money
    reference: str = attrs.field(validator=text("reference", 200))
    created_at: datetime = attrs.field(validator=aware)
    updated_at: datetime = attrs.field(validator=aware)
    created_by: str = ""
    livemode: bool = True
    description: str | None = None
    expires_at: datetime | None = attrs.field(default=None, validator=aware)
    usage_limit: int | None = None
    used: int = 0
    reserved: int = 0
    status: PaymentLinkStatus = PaymentLinkStatus.ACTIVE

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def usage_limit_reached(self) -> bool:
        return self.usage_limit is not None and self.used >= self.usage_limit

    def can_pay(self, now: datetime) -> bool:
        has_room = self.usage_limit is None or self.used + self.reserved < self.usage_limit
        return self.status is PaymentLinkStatus.ACTIVE and not self.is_expired(now) and has_room

    def moved(self, status: PaymentLinkStatus, now: datetime) -> PaymentLink:
        return attrs.evolve(self, status=PAYMENT_LINK.require(self.status, status), updated_at=now)

    def counted(self, now: datetime, **deltas: int) -> PaymentLink:
        changes: dict[str, Any] = {name: getattr(self, name) + delta for name, delta in deltas.items()}
        return attrs.evolve(self, updated_at=now, **changes)
