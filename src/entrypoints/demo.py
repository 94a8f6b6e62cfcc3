"""A walk through the core as a tenant lives it: a payment, a four-eyes withdrawal, the ledger.

Runs on the embedded PostgreSQL by default (or DATABASE_URL), in memory with `--memory`.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import TextIO

from entrypoints.composition import in_memory_core, postgres_core
from payments_core import PaymentsCore
from payments_core.errors import FourEyesViolation
from payments_core.money import Money
from payments_core.policies import Principal, Scope


def run_demo(out: TextIO, in_memory: bool = False) -> int:
    wiring: AbstractContextManager[tuple[PaymentsCore, object]] = (
        nullcontext(in_memory_core()) if in_memory else postgres_core()
    )
    with wiring as (core, sandbox):
        return _walk(core, sandbox, out, "memory" if in_memory else "PostgreSQL")


def _walk(core: PaymentsCore, sandbox: object, out: TextIO, where: str) -> int:
    def say(text: str) -> None:
        out.write(text + "\n")

    tenant = f"demo-{uuid.uuid4().hex[:8]}"
    core.tenants.create_tenant(tenant, "Demo Tenant", "KES")
    everything = [scope.value for scope in Scope]
    now = datetime.now(UTC)
    alice = Principal.user(tenant, "alice", everything, mfa_verified_at=now, livemode=False)
    bob = Principal.user(tenant, "bob", everything, mfa_verified_at=now, livemode=False)
    say(f"tenant {tenant} on {where}")

    session = core.checkout.create_session(alice, Money.parse("5000.00", "KES"), reference="order-1")
    sandbox.complete_checkout(session.provider_reference)  # type: ignore[attr-defined]
    payment = core.payments.get_payment(alice, session.payment_id)
    assert payment.fee is not None
    net = payment.amount - payment.fee
    say(f"payment of {payment.amount} completed: fee {payment.fee}, wallet credited {net}")

    withdrawal = core.wallet.initiate_withdrawal(
        alice, Money.parse("1000.00", "KES"), "mpesa", {"phone_number": "254712345678"}
    )
    available = core.wallet.wallet_balance(alice).available
    say(f"withdrawal of {withdrawal.amount} initiated by alice: held, available now {available}")
    try:
        core.wallet.approve_withdrawal(alice, withdrawal.id)
    except FourEyesViolation as refused:
        say(f"alice approving her own withdrawal: refused ({refused.code})")
    approval = core.wallet.approve_withdrawal(bob, withdrawal.id)
    sandbox.settle_payout(approval.withdrawal.provider_reference)  # type: ignore[attr-defined]
    settled = core.wallet.get_withdrawal(alice, withdrawal.id)
    say(f"bob approved; payout of {settled.net_amount} {settled.status}, fee {settled.fee}")

    say("")
    say(f"{'account':<48}{'debits':>14}{'credits':>14}")
    for account in core.ledger.account_balances(alice):
        debits = Money(account.debits_posted, account.currency)
        credits = Money(account.credits_posted, account.currency)
        if debits.minor or credits.minor:
            say(f"{account.id:<48}{debits.to_major_string():>14}{credits.to_major_string():>14}")
    found = core.ledger.ledger_problems(alice)
    say(f"\nledger balanced, every fold agrees: {not found}")
    return 0 if not found else 1
