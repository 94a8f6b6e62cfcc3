"""Reconciliation on both stores: every planted break of every kind is found, and nothing else."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest

from payments_core.errors import InsufficientPermissions, InvalidOperation, MfaChallengeRequired, NotFound
from payments_core.model.payments import Payment
from payments_core.model.reconciliation import BreakKind, BreakStatus, MatchRules, StagedLine
from payments_core.services import reconciliation
from payments_core.states import PaymentStatus
from tests.support.core import Core, make_core
from tests.support.payments import completed_payment, pending_payment

PROVIDER = "sandbox"
DIGEST = hashlib.sha256(b"statement one").hexdigest()


def line(number: int, payment: Payment | None, **overrides: object) -> StagedLine:
    values: dict[str, object] = {
        "line_number": number,
        "type": "charge",
        "external_id": payment.provider_reference if payment else f"ext_{number}",
        "reference": None,
        "gross": payment.amount.minor if payment else 1000,
        "fee": payment.fee.minor if payment and payment.fee else 0,
        "currency": "KES",
        "occurred_at": (payment.created_at if payment else datetime(2026, 3, 1, 9, 0).astimezone())
        + timedelta(minutes=1),
    } | overrides
    values["net"] = int(values["gross"]) - int(values["fee"])  # type: ignore[call-overload]
    return StagedLine(**values)  # type: ignore[arg-type]


class Planted:
    """Payments spread over five hours, and a statement with one break of every kind."""

    def __init__(self, core: Core) -> None:
        step = timedelta(minutes=20)
        made: list[Payment] = []
        for amount in ("100.00", "200.00", "300.00", "400.00", "500.00", "612.34", "700.00"):
            made.append(completed_payment(core, amount))
            core.clock.advance(step)
        self.pending = pending_payment(core, "900.00")
        core.clock.advance(timedelta(hours=2))
        self.young = completed_payment(core, "50.00")  # within the cut-off: not expected yet
        clean, wrong_amount, wrong_fee, wrong_currency, by_reference, by_amount, missing = made
        self.clean, self.wrong_amount, self.missing = clean, wrong_amount, missing
        self.wrong_fee, self.wrong_currency = wrong_fee, wrong_currency
        self.by_reference, self.by_amount = by_reference, by_amount
        end = core.clock.now() + timedelta(minutes=30)
        self.lines = [
            line(2, clean),
            line(3, wrong_amount, gross=wrong_amount.amount.minor + 100),
            line(4, wrong_fee, fee=(wrong_fee.fee.minor if wrong_fee.fee else 0) + 1),
            line(5, wrong_currency, currency="USD"),
            line(6, self.pending),
            line(7, clean),  # the same charge twice
            line(8, None, external_id="ch_nobody_knows", gross=4242),
            line(9, by_reference, external_id="ch_unknown_1", reference=by_reference.id),
            line(10, by_amount, external_id="ch_unknown_2"),
            line(11, None, type="fee", external_id="fee_1", gross=-30, fee=0, occurred_at=end),
        ]


@pytest.fixture
def core() -> Core:
    return make_core()


def run(
    core: Core, lines: list[StagedLine], digest: str = DIGEST, **kwargs: object
) -> reconciliation.RunResult:
    operator = core.user("olga")
    return reconciliation.reconcile(core.deps, operator, PROVIDER, digest, lines, **kwargs)  # type: ignore[arg-type]


def test_every_planted_break_is_found_and_nothing_else(core: Core) -> None:
    planted = Planted(core)
    result = run(core, planted.lines, auto_resolve=False)
    assert not result.replayed
    found = reconciliation.list_breaks(core.deps, core.user("olga"), result.run.id)
    seen = [
        (b.kind, b.line["lineNumber"] if b.line else None, b.record["id"] if b.record else None)
        for b in found
    ]
    assert seen == [
        (BreakKind.DUPLICATE_IN_STATEMENT, 7, None),
        (BreakKind.AMOUNT_MISMATCH, 3, planted.wrong_amount.id),
        (BreakKind.FEE_MISMATCH, 4, planted.wrong_fee.id),
        (BreakKind.CURRENCY_MISMATCH, 5, planted.wrong_currency.id),
        (BreakKind.STATUS_MISMATCH, 6, planted.pending.id),
        (BreakKind.MISSING_IN_LEDGER, 8, None),
        (BreakKind.MISSING_IN_STATEMENT, None, planted.missing.id),
    ]
    assert found[0].line is not None and found[0].line["firstLineNumber"] == 2
    counts = result.run.counts
    assert counts == {kind.value: 1 for kind in BreakKind}
    assert (result.run.lines, result.run.matched, result.run.informational) == (10, 3, 1)
    assert all(b.status is BreakStatus.OPEN for b in found)


def test_differences_are_statement_minus_books_in_the_line_currency(core: Core) -> None:
    planted = Planted(core)
    result = run(core, planted.lines, auto_resolve=False)
    by_kind = {b.kind: b for b in reconciliation.list_breaks(core.deps, core.user("olga"), result.run.id)}
    assert by_kind[BreakKind.AMOUNT_MISMATCH].difference is not None
    assert by_kind[BreakKind.AMOUNT_MISMATCH].difference.minor == 100
    assert by_kind[BreakKind.FEE_MISMATCH].difference is not None
    assert by_kind[BreakKind.FEE_MISMATCH].difference.minor == -1
    assert by_kind[BreakKind.MISSING_IN_LEDGER].difference is not None
    assert by_kind[BreakKind.MISSING_IN_LEDGER].difference.minor == 4242
    missing = by_kind[BreakKind.MISSING_IN_STATEMENT].difference
    assert missing is not None and missing.minor == -planted.missing.amount.minor
    assert by_kind[BreakKind.CURRENCY_MISMATCH].difference is None
    assert by_kind[BreakKind.STATUS_MISMATCH].difference is None


def test_the_rule_completes_a_pending_payment_the_statement_shows_settled(core: Core) -> None:
    planted = Planted(core)
    before = core.wallet()
    result = run(core, planted.lines)
    assert result.run.auto_resolved == 1
    with core.deps.uow() as uow:
        payment = uow.payments.get(core.tenant.id, planted.pending.id)
    assert payment is not None and payment.status is PaymentStatus.COMPLETED
    assert core.wallet() == before + planted.pending.amount.minor - (payment.fee.minor if payment.fee else 0)
    status = reconciliation.list_breaks(
        core.deps, core.user("olga"), result.run.id, kind=BreakKind.STATUS_MISMATCH
    )
    assert [(b.status, b.resolution) for b in status] == [
        (BreakStatus.RESOLVED, reconciliation.AUTO_COMPLETE)
    ]
    assert core.ledger_problems() == []


def test_the_same_statement_again_is_a_no_op_that_answers_the_first_run(core: Core) -> None:
    planted = Planted(core)
    first = run(core, planted.lines)
    again = run(core, planted.lines)
    assert again.replayed and again.run == first.run
    assert [r.id for r in reconciliation.list_runs(core.deps, core.user("olga"))] == [first.run.id]


def test_a_clean_statement_has_no_breaks(core: Core) -> None:
    payment = completed_payment(core, "10.00")
    result = run(core, [line(2, payment)], rules=MatchRules(cutoff=timedelta(0)))
    assert result.run.clean and result.run.matched == 1


def test_accepting_a_break_posts_its_difference_through_suspense_once(core: Core) -> None:
    planted = Planted(core)
    result = run(core, planted.lines, auto_resolve=False)
    approver = core.user("ada")
    amount = reconciliation.list_breaks(core.deps, approver, result.run.id, kind=BreakKind.AMOUNT_MISMATCH)[0]
    done = reconciliation.accept_break(core.deps, approver, amount.id, note="provider surcharge")
    assert (done.status, done.resolution, done.resolved_by) == (BreakStatus.RESOLVED, "accepted", "ada")
    transfer = core.store.ledger.transfer(core.tenant.id, f"{amount.id}.accepted")
    assert transfer.postings[0].amount.minor == 100
    assert core.ledger_problems() == []
    suspense = core.store.ledger.account(core.tenant.id, f"{core.tenant.id}/recon_suspense/KES")
    assert suspense.credits_posted == 100
    with pytest.raises(InvalidOperation):
        reconciliation.accept_break(core.deps, approver, amount.id)


def test_accepting_a_break_without_a_difference_posts_nothing(core: Core) -> None:
    planted = Planted(core)
    result = run(core, planted.lines, auto_resolve=False)
    approver = core.user("ada")
    currency = reconciliation.list_breaks(
        core.deps, approver, result.run.id, kind=BreakKind.CURRENCY_MISMATCH
    )[0]
    reconciliation.accept_break(core.deps, approver, currency.id)
    with pytest.raises(NotFound):
        core.store.ledger.transfer(core.tenant.id, f"{currency.id}.accepted")


def test_accepting_needs_an_approver_with_fresh_mfa(core: Core) -> None:
    planted = Planted(core)
    result = run(core, planted.lines, auto_resolve=False)
    item = reconciliation.list_breaks(core.deps, core.user("olga"), result.run.id)[0]
    with pytest.raises(InsufficientPermissions):
        reconciliation.accept_break(core.deps, core.user("viewer", {"finance.view"}), item.id)
    with pytest.raises(MfaChallengeRequired):
        reconciliation.accept_break(core.deps, core.user("ada", mfa=False), item.id)


def test_another_tenant_sees_no_run_and_no_break(core: Core) -> None:
    planted = Planted(core)
    result = run(core, planted.lines)
    stranger = core.user("eve", tenant_id=core.other_tenant.id)
    with pytest.raises(NotFound):
        reconciliation.get_run(core.deps, stranger, result.run.id)
    with pytest.raises(NotFound):
        reconciliation.list_breaks(core.deps, stranger, result.run.id)
    item = reconciliation.list_breaks(core.deps, core.user("olga"), result.run.id)[0]
    with pytest.raises(NotFound):
        reconciliation.accept_break(core.deps, stranger, item.id)
    assert reconciliation.list_runs(core.deps, stranger) == []


def test_breaks_page_by_id_and_filter_by_kind_and_status(core: Core) -> None:
    planted = Planted(core)
    result = run(core, planted.lines)
    olga = core.user("olga")
    first = reconciliation.list_breaks(core.deps, olga, result.run.id, limit=3)
    rest = reconciliation.list_breaks(core.deps, olga, result.run.id, after=first[-1].id)
    assert len(first) == 3 and len(first) + len(rest) == 7
    assert [b.id for b in first + rest] == sorted(b.id for b in first + rest)
    opened = reconciliation.list_breaks(core.deps, olga, result.run.id, status=BreakStatus.OPEN)
    assert len(opened) == 6


def test_a_run_needs_the_finance_scope(core: Core) -> None:
    with pytest.raises(InsufficientPermissions):
        reconciliation.reconcile(
            core.deps, core.user("bob", {"payments.read"}), PROVIDER, DIGEST, [line(2, None)]
        )
