"""Refunds (placeholder until the refund use cases land)."""

from __future__ import annotations

from payments_core.ports import ProviderEvent, UnitOfWork
from payments_core.services.context import Deps


def apply_refund_event(uow: UnitOfWork, deps: Deps, event: ProviderEvent) -> bool:
    """Settle or fail a refund from a verified provider event; False if the refund is unknown."""
    raise NotImplementedError
