"""An embedded walk through the core: a payment, a four-eyes withdrawal, a balanced ledger."""

from __future__ import annotations

from typing import TextIO

from adapters.memory.clock import ManualClock
from adapters.memory.ledger import InMemoryLedgerStore
from payments_core import flows
from payments_core.errors import FourEyesViolation
from payments_core.fees import PLATFORM_DEFAULT_SCHEDULE, FeeOperation
from payments_core.ledger import Chart, problems, trial_balance
from payments_core.money import Money
from payments_core.policies import Principal, Scope, require_four_eyes


def run_demo(out: TextIO) -> int:
    store = InMemoryLedgerStore(ManualClock())
    chart = Chart("demo-tenant")
    store.open_accounts(chart.accounts("KES", ["mpesa"]))

    def say(text: str) -> None:
        out.write(text + "\n")

    payment = PLATFORM_DEFAULT_SCHEDULE.quote(FeeOperation.PAYMENT, "mpesa", Money.parse("5000.00", "KES"))
    store.submit(flows.payment_completed(chart, "pay_1", "mpesa", payment))
    say(f"payment of {payment.gross} completed: fee {payment.fee}, wallet credited {payment.net}")

    withdrawal = PLATFORM_DEFAULT_SCHEDULE.quote(
        FeeOperation.WITHDRAWAL, "mpesa", Money.parse("1000.00", "KES")
    )
    store.submit(flows.withdrawal_initiated(chart, "wd_1", withdrawal))
    wallet = store.account(chart.tenant_id, chart.wallet("KES"))
    say(f"withdrawal of {withdrawal.gross} initiated by alice: held, available now {wallet.available()}")

    approvers = Scope.FINANCE_WITHDRAW_APPROVE.value
    alice = Principal.user(chart.tenant_id, "alice", {approvers})
    bob = Principal.user(chart.tenant_id, "bob", {approvers})
    try:
        require_four_eyes(alice, initiator_subject="alice")
    except FourEyesViolation as refused:
        say(f"alice approving her own withdrawal: refused ({refused.code})")
    require_four_eyes(bob, initiator_subject="alice")
    store.submit(flows.withdrawal_approved(chart, "wd_1_approved", "wd_1"))
    store.submit(flows.payout_settled(chart, "wd_1_settled", "mpesa", withdrawal))
    say(f"bob approved; payout of {withdrawal.net} settled, fee {withdrawal.fee}")

    say("")
    say(f"{'account':<42}{'debits':>14}{'credits':>14}")
    for account in store.accounts(chart.tenant_id):
        debits = Money(account.debits_posted, account.currency)
        credits = Money(account.credits_posted, account.currency)
        say(f"{account.id:<42}{debits.to_major_string():>14}{credits.to_major_string():>14}")
    totals = trial_balance(store.accounts(chart.tenant_id))["KES"]
    found = problems(store.accounts(chart.tenant_id), store.entries(chart.tenant_id))
    say(f"\nKES balanced: {totals.balanced}; invariant problems: {len(found)}")
    return 0 if totals.balanced and not found else 1
