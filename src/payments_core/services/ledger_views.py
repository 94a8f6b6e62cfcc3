"""The tenant's own view of its ledger: balances per account and a soundness check."""

from __future__ import annotations

from payments_core.ledger import Account, problems
from payments_core.policies import Operation, Principal, require_scope
from payments_core.services.context import Deps


def account_balances(deps: Deps, principal: Principal) -> list[Account]:
    """Every account of the caller's tenant with its four balances."""
    require_scope(principal, Operation.WALLET_READ)
    with deps.uow() as uow:
        return uow.ledger.accounts(principal.tenant_id)


def ledger_problems(deps: Deps, principal: Principal) -> list[str]:
    """Every broken invariant of the tenant's ledger, in words; an empty list means it is sound."""
    require_scope(principal, Operation.WALLET_READ)
    with deps.uow() as uow:
        tenant_id = principal.tenant_id
        return problems(uow.ledger.accounts(tenant_id), uow.ledger.entries(tenant_id))
