"""Wallet and withdrawals (placeholder until the wallet use cases land)."""

from __future__ import annotations

from payments_core.ports import ProviderEvent, UnitOfWork
from payments_core.services.context import Deps


def apply_payout_event(uow: UnitOfWork, deps: Deps, event: ProviderEvent) -> bool:
    """Settle or fail a withdrawal's payout from a verified provider event; False if unknown."""
    raise NotImplementedError
