"""Checkout sessions (placeholder until the checkout use cases land)."""

from __future__ import annotations

from payments_core.model.payments import CheckoutSession
from payments_core.ports import ProviderEvent, UnitOfWork
from payments_core.services.context import Deps


def apply_session_event(uow: UnitOfWork, deps: Deps, session: CheckoutSession, event: ProviderEvent) -> bool:
    """Complete, fail or expire a session (and its payment) from a verified provider event."""
    raise NotImplementedError
