"""Use cases on the read views: the same rules as their unit-of-work twins, awaited."""

from __future__ import annotations

from payments_core.model.payments import Payment
from payments_core.policies import Operation, Principal, require_scope
from payments_core.ports.views import PaymentViews
from payments_core.services.context import found


async def view_payment(views: PaymentViews, principal: Principal, payment_id: str) -> Payment:
    """`payments.get_payment` on the read side: the same scope check, the same 404 for a missing
    id and for another tenant's."""
    require_scope(principal, Operation.PAYMENTS_READ)
    return found(await views.payment(principal.tenant_id, payment_id), "payment", payment_id)
