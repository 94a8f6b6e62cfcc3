"""Three-way matching: statement lines <-> our records <-> the ledger, as one pure function.

This module is the specification; the PostgreSQL store answers the same in set-wise SQL, and the
shared test suite holds both to the same breaks for the same inputs.

Invariants (in the order they are applied)
0. The records matching considers: this tenant's and provider's created within the statement's
   period widened by `window` on both sides ([first line's time - window, last line's time +
   window]), and, outside it, those a line names that nothing in the period answers: a record
   whose provider reference or id is the external id of a line (one taking part in the tiers
   below) that no record of its kind in the period has as provider reference, or the reference of
   such a line that no record of its kind in the period has as id. Records outside the period no
   line names take no part (they could pair in no tier, and would otherwise take the amount-and-
   time tier's ranks from records that can).
1. Duplicates: lines with the same (type, external id) after the first (lowest line number) are
   `duplicate_in_statement` breaks and take no further part (they are neither a settlement's items
   nor settlements).
2. Fee and adjustment lines have no record of ours: they are counted as informational.
3. Settlements: a line may name the provider's payout that settled it (`payout_id`). A payout line
   whose external id at least one other line, neither a duplicate nor a payout, names so (its
   items) is a settlement: it takes no part in the tiers below, but is checked against its items,
   first finding wins: an item in another currency -> `currency_mismatch`; gross + the items' nets
   != 0 -> `amount_mismatch` (a payout's gross is negative: money leaving the provider's balance);
   else it is clean. The items keep their own matching unchanged; a payout line no line names is
   matched as below. The break's line tells what it settles: `settles: {"lines": n, "net": minor}`
   (`net` None when the items are not all in the payout's currency).
4. Charge lines match payments, refund lines refunds, other payout lines withdrawals, in three
   tiers, each only among lines and records the earlier tiers left unmatched:
   a. the provider's id: `external_id` == the record's provider reference (the lowest record id
      when several records share one);
   b. our reference: `reference` == the record's id (one line per record, the lowest line wins);
   c. amount + currency + time: within each (kind, currency, |gross|) the unmatched lines in
      (time, line number) order pair with the unmatched records in (created, id) order, rank by
      rank, and a pair stands only if its times are at most `window` apart.
5. A matched pair is checked, first finding wins: currency differs -> `currency_mismatch`;
   |gross| differs from the record's amount -> `amount_mismatch`; our record is not settled ->
   `status_mismatch`; a charge whose fee differs from the fee our ledger booked -> `fee_mismatch`;
   the settling transfer is absent from the journal -> `missing_in_ledger`; else it is clean.
6. An unmatched charge, refund or payout line (not a settlement) -> `missing_in_ledger`.
7. A settled record of this tenant and provider, created within [first line's time, last line's time
   - cutoff] and matched by no line -> `missing_in_statement`.

Breaks are listed duplicates first (by line), then line by line (a settlement's, a pair's, an
unmatched line's), then the records missing from the statement by (kind, id). Clean settlements
and clean pairs are the run's `matched`.

A break's line is the statement row as read, with the payout that settled it: `payoutId` (null
when the line names none, as an absent `reference` is null), whatever the break's kind.

Differences (signed minor units, "statement minus books" as the clearing account sees it):
amount_mismatch gross - signed amount (a settlement's: gross + its items' nets); missing_in_ledger
gross; missing_in_statement -signed amount; fee_mismatch booked fee - statement fee; the other kinds
carry none.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from payments_core.model.reconciliation import (
    Break,
    BreakDraft,
    BreakKind,
    MatchOutcome,
    MatchRules,
    RecordKind,
    RecordView,
    Settled,
    StagedLine,
    break_id,
)
from payments_core.money import Money

PAYOUT = "payout"
RECORD_OF_LINE = {"charge": RecordKind.PAYMENT, "refund": RecordKind.REFUND, "payout": RecordKind.WITHDRAWAL}


def match(
    lines: Iterable[StagedLine], records: Iterable[RecordView], rules: MatchRules
) -> tuple[MatchOutcome, list[BreakDraft]]:
    ordered = sorted(lines, key=lambda line: line.line_number)
    all_records = list(records)
    breaks: list[BreakDraft] = []
    first_of: dict[tuple[str, str], int] = {}
    kept: list[StagedLine] = []
    items: dict[str, list[StagedLine]] = defaultdict(list)
    informational = 0
    for line in ordered:
        key = (line.type, line.external_id)
        if key in first_of:
            breaks.append(BreakDraft(BreakKind.DUPLICATE_IN_STATEMENT, line=line, first_line=first_of[key]))
            continue
        first_of[key] = line.line_number
        if line.payout_id is not None and line.type != PAYOUT:
            items[line.payout_id].append(line)
        if line.type in RECORD_OF_LINE:
            kept.append(line)
        else:
            informational += 1

    settlements = {line.line_number for line in kept if line.type == PAYOUT and line.external_id in items}
    in_tiers = [line for line in kept if line.line_number not in settlements]
    considered = _considered(ordered, in_tiers, all_records, rules)
    pairs = _pairs(in_tiers, considered, rules)
    matched_records = {(record.kind, record.id) for _, record in pairs.values()}
    clean = 0
    for line in kept:
        pair = pairs.get(line.line_number)
        if line.line_number in settlements:
            found = check_settlement(line, items[line.external_id])
        elif pair is None:
            found = BreakDraft(BreakKind.MISSING_IN_LEDGER, line=line, difference=line.gross)
        else:
            found = check_pair(line, pair[1])
        if found is None:
            clean += 1
        else:
            breaks.append(found)

    breaks.extend(_missing_in_statement(ordered, considered, matched_records, rules))
    counts = {kind.value: 0 for kind in BreakKind}
    for draft in breaks:
        counts[draft.kind.value] += 1
    return MatchOutcome(len(ordered), clean, informational, counts), breaks


def to_break(tenant_id: str, run_id: str, number: int, draft: BreakDraft, at: datetime) -> Break:
    """The `number`th break of a run (from 1, in the matcher's order), with its evidence."""
    evidence = draft.line or draft.record
    currency = evidence.currency if evidence is not None else None
    difference = (
        Money(draft.difference, currency) if draft.difference is not None and currency is not None else None
    )
    line = draft.line.evidence() if draft.line is not None else None
    if line is not None and draft.first_line is not None:
        line["firstLineNumber"] = draft.first_line
    if line is not None and draft.settles is not None:
        line["settles"] = draft.settles.evidence()
    return Break(
        id=break_id(run_id, number),
        tenant_id=tenant_id,
        run_id=run_id,
        kind=draft.kind,
        created_at=at,
        line=line,
        record=draft.record.evidence() if draft.record is not None else None,
        difference=difference,
    )


def check_settlement(payout: StagedLine, items: Sequence[StagedLine]) -> BreakDraft | None:
    """A settlement payout against the lines it settles (invariant 3)."""
    if any(item.currency != payout.currency for item in items):
        return BreakDraft(BreakKind.CURRENCY_MISMATCH, line=payout, settles=Settled(len(items), None))
    net = sum(item.net for item in items)
    difference = payout.gross + net
    if difference == 0:
        return None
    settles = Settled(len(items), net)
    return BreakDraft(BreakKind.AMOUNT_MISMATCH, line=payout, difference=difference, settles=settles)


def check_pair(line: StagedLine, record: RecordView) -> BreakDraft | None:
    if line.currency != record.currency:
        return BreakDraft(BreakKind.CURRENCY_MISMATCH, line=line, record=record)
    if abs(line.gross) != record.amount:
        return BreakDraft(
            BreakKind.AMOUNT_MISMATCH, line=line, record=record, difference=line.gross - record.signed_amount
        )
    if not record.settled:
        return BreakDraft(BreakKind.STATUS_MISMATCH, line=line, record=record)
    if record.kind is RecordKind.PAYMENT and record.fee is not None and line.fee != record.fee:
        return BreakDraft(BreakKind.FEE_MISMATCH, line=line, record=record, difference=record.fee - line.fee)
    if not record.in_ledger:
        return BreakDraft(BreakKind.MISSING_IN_LEDGER, line=line, record=record, difference=line.gross)
    return None


def _considered(
    lines: Sequence[StagedLine], in_tiers: Sequence[StagedLine], records: list[RecordView], rules: MatchRules
) -> list[RecordView]:
    """The records of the period and those outside it a line names (invariant 0), in their order."""
    if not lines:
        return []
    first = min(line.occurred_at for line in lines) - rules.window
    last = max(line.occurred_at for line in lines) + rules.window
    in_period = [record for record in records if first <= record.created_at <= last]
    references = {(r.kind, r.provider_reference) for r in in_period if r.provider_reference is not None}
    ids = {(r.kind, r.id) for r in in_period}
    names = {
        line.external_id
        for line in in_tiers
        if (RECORD_OF_LINE[line.type], line.external_id) not in references
    }
    names |= {
        line.reference
        for line in in_tiers
        if line.reference is not None and (RECORD_OF_LINE[line.type], line.reference) not in ids
    }
    return [
        record
        for record in records
        if first <= record.created_at <= last or record.id in names or record.provider_reference in names
    ]


def _pairs(
    lines: Sequence[StagedLine], records: Sequence[RecordView], rules: MatchRules
) -> dict[int, tuple[StagedLine, RecordView]]:
    """line number -> (line, record), through the three tiers."""
    pairs: dict[int, tuple[StagedLine, RecordView]] = {}
    taken: set[tuple[RecordKind, str]] = set()

    by_id_descending = sorted(records, key=lambda r: r.id, reverse=True)
    by_reference = {(r.kind, r.provider_reference): r for r in by_id_descending if r.provider_reference}
    for line in lines:
        record = by_reference.get((RECORD_OF_LINE[line.type], line.external_id))
        if record is not None and (record.kind, record.id) not in taken:
            pairs[line.line_number] = (line, record)
            taken.add((record.kind, record.id))

    by_id = {(r.kind, r.id): r for r in records}
    for line in lines:
        if line.line_number in pairs or not line.reference:
            continue
        record = by_id.get((RECORD_OF_LINE[line.type], line.reference))
        if record is not None and (record.kind, record.id) not in taken:
            pairs[line.line_number] = (line, record)
            taken.add((record.kind, record.id))

    waiting_lines: dict[tuple[RecordKind, str, int], list[StagedLine]] = defaultdict(list)
    for line in lines:
        if line.line_number not in pairs:
            waiting_lines[(RECORD_OF_LINE[line.type], line.currency, abs(line.gross))].append(line)
    waiting_records: dict[tuple[RecordKind, str, int], list[RecordView]] = defaultdict(list)
    for record in records:
        if (record.kind, record.id) not in taken:
            waiting_records[(record.kind, record.currency, record.amount)].append(record)
    for key, group in waiting_lines.items():
        candidates = sorted(waiting_records.get(key, ()), key=lambda r: (r.created_at, r.id))
        group.sort(key=lambda line: (line.occurred_at, line.line_number))
        for line, record in zip(group, candidates, strict=False):
            if abs(line.occurred_at - record.created_at) <= rules.window:
                pairs[line.line_number] = (line, record)
    return pairs


def _missing_in_statement(
    lines: Sequence[StagedLine],
    records: Iterable[RecordView],
    matched: set[tuple[RecordKind, str]],
    rules: MatchRules,
) -> list[BreakDraft]:
    if not lines:
        return []
    start: datetime = min(line.occurred_at for line in lines)
    end: datetime = max(line.occurred_at for line in lines) - rules.cutoff
    return [
        BreakDraft(BreakKind.MISSING_IN_STATEMENT, record=record, difference=-record.signed_amount)
        for record in sorted(records, key=lambda r: (r.kind.value, r.id))
        if record.settled and start <= record.created_at <= end and (record.kind, record.id) not in matched
    ]
