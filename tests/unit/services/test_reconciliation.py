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


def test_an_id_that_cannot_be_stored_names_no_run_and_no_break(core: Core) -> None:
    """On PostgreSQL too: a NUL is no text the database can hold, so the id is simply not found."""
    planted = Planted(core)
    result = run(core, planted.lines, auto_resolve=False)
    olga = core.user("olga")
    item = reconciliation.list_breaks(core.deps, olga, result.run.id)[0]
    with pytest.raises(NotFound):
        reconciliation.get_run(core.deps, olga, f"{result.run.id}\x00")
    with pytest.raises(NotFound):
        reconciliation.list_breaks(core.deps, olga, f"{result.run.id}\x00")
    with pytest.raises(NotFound):
        reconciliation.accept_break(core.deps, core.user("ada"), f"{item.id}\x00")
    assert reconciliation.list_breaks(core.deps, olga, result.run.id)[0] == item


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


class Payouts:
    """Four paid charges settled by provider payouts: one clean, one short, one over two currencies,
    and a payout no line names; a charge and a payout written twice."""

    def __init__(self, core: Core) -> None:
        a, b, c, d = (completed_payment(core, amount) for amount in ("100.00", "250.00", "300.00", "80.00"))

        def net(payment: Payment) -> int:
            return payment.amount.minor - (payment.fee.minor if payment.fee else 0)

        self.net_c = net(c)
        clean_net = net(a) + net(b) - 30
        self.lines = [
            line(2, a, payout_id="po_clean"),
            line(3, b, payout_id="po_clean"),
            line(4, None, type="fee", external_id="fee_1", gross=-30, fee=0, payout_id="po_clean"),
            line(5, a, payout_id="po_clean"),  # a duplicate: not counted among po_clean's items
            line(6, None, type="payout", external_id="po_clean", gross=-clean_net, fee=0),
            line(7, c, payout_id="po_short"),
            line(8, None, type="payout", external_id="po_short", gross=-self.net_c + 150, fee=0),
            line(
                9, None, type="fee", external_id="fee_2", gross=-45, fee=0, currency="USD", payout_id="po_fx"
            ),
            line(10, d, payout_id="po_fx"),
            line(11, None, type="payout", external_id="po_fx", gross=-(net(d) - 45), fee=0),
            line(12, None, type="payout", external_id="po_lonely", gross=-5000, fee=0),
            line(13, None, type="payout", external_id="po_clean", gross=-clean_net, fee=0),  # a duplicate
        ]


def test_a_payout_that_lines_name_is_checked_against_the_lines_it_settles(core: Core) -> None:
    payouts = Payouts(core)
    result = run(core, payouts.lines, rules=MatchRules(cutoff=timedelta(0)), auto_resolve=False)
    found = reconciliation.list_breaks(core.deps, core.user("olga"), result.run.id)
    assert [(b.kind, b.line["lineNumber"] if b.line else None, b.record) for b in found] == [
        (BreakKind.DUPLICATE_IN_STATEMENT, 5, None),
        (BreakKind.DUPLICATE_IN_STATEMENT, 13, None),
        (BreakKind.AMOUNT_MISMATCH, 8, None),
        (BreakKind.CURRENCY_MISMATCH, 11, None),
        (BreakKind.MISSING_IN_LEDGER, 12, None),
    ]
    duplicate_charge, duplicate_payout, short, mixed, lonely = found
    assert duplicate_payout.line is not None and duplicate_payout.line["firstLineNumber"] == 6
    assert "settles" not in (duplicate_charge.line or {}) and "settles" not in (lonely.line or {})
    assert short.line is not None and short.line["settles"] == {"lines": 1, "net": payouts.net_c}
    assert short.difference is not None and (short.difference.minor, short.difference.currency) == (
        150,
        "KES",
    )
    assert mixed.line is not None and mixed.line["settles"] == {"lines": 2, "net": None}
    assert mixed.difference is None
    assert lonely.difference is not None and lonely.difference.minor == -5000
    # Four clean charges and the clean payout; the two fee lines are informational.
    assert (result.run.lines, result.run.matched, result.run.informational) == (12, 5, 2)
    assert result.run.counts == {
        "missing_in_ledger": 1, "missing_in_statement": 0, "amount_mismatch": 1, "currency_mismatch": 1,
        "status_mismatch": 0, "fee_mismatch": 0, "duplicate_in_statement": 2,
    }  # fmt: skip


def test_accepting_a_short_payout_posts_its_difference_through_suspense(core: Core) -> None:
    payouts = Payouts(core)
    result = run(core, payouts.lines, rules=MatchRules(cutoff=timedelta(0)), auto_resolve=False)
    approver = core.user("ada")
    short = reconciliation.list_breaks(core.deps, approver, result.run.id, kind=BreakKind.AMOUNT_MISMATCH)[0]
    reconciliation.accept_break(core.deps, approver, short.id, note="payout short by the bank's charge")
    transfer = core.store.ledger.transfer(core.tenant.id, f"{short.id}.accepted")
    assert transfer.postings[0].amount.minor == 150
    assert core.ledger_problems() == []


def test_without_the_items_a_payout_is_matched_as_before(core: Core) -> None:
    """The same statement with no line naming a payout: every payout line is a line nothing matched."""
    payouts = Payouts(core)
    lines = [item._replace(payout_id=None) for item in payouts.lines]
    result = run(core, lines, rules=MatchRules(cutoff=timedelta(0)), auto_resolve=False)
    found = reconciliation.list_breaks(core.deps, core.user("olga"), result.run.id)
    assert [(b.kind, b.line["lineNumber"] if b.line else None) for b in found] == [
        (BreakKind.DUPLICATE_IN_STATEMENT, 5),
        (BreakKind.DUPLICATE_IN_STATEMENT, 13),
        (BreakKind.MISSING_IN_LEDGER, 6),
        (BreakKind.MISSING_IN_LEDGER, 8),
        (BreakKind.MISSING_IN_LEDGER, 11),
        (BreakKind.MISSING_IN_LEDGER, 12),
    ]
    assert result.run.matched == 4


# A statement line's evidence before lines named their payout.
LINE_EVIDENCE = frozenset({
    "lineNumber", "type", "externalId", "reference", "gross", "fee", "net", "currency", "occurredAt",
})  # fmt: skip


def test_a_break_shows_the_payout_its_line_names(core: Core) -> None:
    """`payoutId` is the line's payout as read, or null (as an absent `reference` is) on both stores."""
    paid = completed_payment(core, "100.00")
    nets = paid.amount.minor + 100 - (paid.fee.minor if paid.fee else 0) + 700
    lines = [
        line(2, paid, gross=paid.amount.minor + 100, payout_id="po_1"),  # a pair: the amount differs
        line(3, None, external_id="ch_unknown", gross=700, payout_id="po_1"),  # no record
        line(4, None, external_id="ch_unknown", gross=700, payout_id="po_2"),  # a duplicate
        line(5, None, external_id="ch_plain", gross=500),  # no record, no payout named
        line(6, None, type="payout", external_id="po_1", gross=-nets + 9, fee=0),  # settles 2 and 3
    ]
    result = run(core, lines, rules=MatchRules(cutoff=timedelta(0)), auto_resolve=False)
    found = reconciliation.list_breaks(core.deps, core.user("olga"), result.run.id)
    shown = [(b.kind, b.line and b.line["lineNumber"], b.line and b.line["payoutId"]) for b in found]
    assert shown == [
        (BreakKind.DUPLICATE_IN_STATEMENT, 4, "po_2"),
        (BreakKind.AMOUNT_MISMATCH, 2, "po_1"),
        (BreakKind.MISSING_IN_LEDGER, 3, "po_1"),
        (BreakKind.MISSING_IN_LEDGER, 5, None),
        (BreakKind.AMOUNT_MISMATCH, 6, None),
    ]
    plain = found[3].line
    assert plain is not None and set(plain) == LINE_EVIDENCE | {"payoutId"}
    assert {key: plain[key] for key in ("externalId", "reference", "gross", "net", "payoutId")} == {
        "externalId": "ch_plain", "reference": None, "gross": 500, "net": 500, "payoutId": None,
    }  # fmt: skip
    assert found[1].record is not None and found[1].record["id"] == paid.id
    assert found[4].line is not None and found[4].line["settles"] == {"lines": 2, "net": nets}
    assert found[4].difference is not None and found[4].difference.minor == 9
