"""Read views: the busiest reads, answered without a unit of work (the read side of CQRS).

A view reads one tenant's aggregate in one statement and awaits it, so an async edge serves it on
its event loop instead of handing it to a worker thread. It returns the same aggregate its
repository would; the use case in `services/views.py` checks the caller first.

A view store is opened on the loop that will use it and closed with it (the HTTP app's lifespan).
"""

from __future__ import annotations

from typing import Protocol

from payments_core.model.payments import Payment


class PaymentViews(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def payment(self, tenant_id: str, payment_id: str) -> Payment | None:
        """The tenant's payment, or None when it has none by that id."""
        ...
