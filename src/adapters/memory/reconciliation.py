"""The in-memory reconciliation store: the core's matching rules run as they are written.

Records are read from the in-memory tables and the ledger of the same store, so an embedding
service reconciles exactly what it holds; runs and breaks roll back with the unit of work.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

from adapters.memory.ledger import InMemoryLedgerStore
from adapters.memory.tables import Payments, Refunds, Table, Withdrawals
from payments_core.matching import match, to_break
from payments_core.model.reconciliation import (
    Break,
    BreakKind,
    BreakStatus,
    MatchOutcome,
    MatchRules,
    ReconciliationRun,
    RecordKind,
    RecordView,
    StagedLine,
)
from payments_core.ports import Progress
from payments_core.ports.statements import PlainCsv
from payments_core.states import PaymentStatus, RefundStatus, WithdrawalStatus

SETTLED_PAYMENTS: Final = frozenset(
    {PaymentStatus.COMPLETED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}
)
PROGRESS_EVERY: Final = 10_000


class _Tables:
    """Runs and breaks as one table to the unit of work: they begin, restore and release together."""

    def __init__(self) -> None:
        self.runs: Table[ReconciliationRun] = Table(lambda r: (r.tenant_id, r.id))
        self.breaks: Table[Break] = Table(lambda b: (b.tenant_id, b.id))
        self.staged: dict[str, list[StagedLine]] = {}  # lines of the open unit of work only

    def begin(self) -> None:
        self.runs.begin()
        self.breaks.begin()

    def restore(self) -> None:
        self.runs.restore()
        self.breaks.restore()
        self.staged.clear()

    def release(self) -> None:
        self.runs.release()
        self.breaks.release()
        self.staged.clear()


class InMemoryReconciliation:
    def __init__(
        self, payments: Payments, refunds: Refunds, withdrawals: Withdrawals, ledger: InMemoryLedgerStore
    ) -> None:
        self._payments, self._refunds, self._withdrawals, self._ledger = (
            payments,
            refunds,
            withdrawals,
            ledger,
        )
        self.table = _Tables()

    def stage(self, tenant_id: str, lines: Iterable[StagedLine], progress: Progress | None = None) -> int:
        held = self.table.staged.setdefault(tenant_id, [])
        for line in lines:
            held.append(line)
            if progress is not None and len(held) % PROGRESS_EVERY == 0:
                progress(len(held))
        if progress is not None:
            progress(len(held))
        return len(held)

    def stage_csv(self, tenant_id: str, plain: PlainCsv, progress: Progress | None = None) -> int | None:
        """Lines are what this store matches: it leaves the file to its parser."""
        return None

    def match(
        self, tenant_id: str, provider: str, run_id: str, rules: MatchRules, at: datetime
    ) -> MatchOutcome:
        lines = self.table.staged.pop(tenant_id, [])
        outcome, drafts = match(lines, self._records(tenant_id, provider), rules)
        for number, draft in enumerate(drafts, 1):
            self.table.breaks.insert(to_break(tenant_id, run_id, number, draft, at))
        return outcome

    def _records(self, tenant_id: str, provider: str) -> list[RecordView]:
        def in_ledger(transfer_id: str) -> bool:
            return self._ledger.find_transfer(tenant_id, transfer_id) is not None

        views = [
            RecordView(
                RecordKind.PAYMENT,
                p.id,
                p.status.value,
                p.amount.minor,
                p.amount.currency,
                p.created_at,
                p.provider_reference,
                p.fee.minor if p.fee is not None else None,
                p.status in SETTLED_PAYMENTS,
                in_ledger(f"{p.id}.completed"),
            )
            for p in self._payments.table.rows()
            if p.tenant_id == tenant_id and p.provider == provider
        ]
        views += [
            RecordView(
                RecordKind.REFUND,
                r.id,
                r.status.value,
                r.amount.minor,
                r.amount.currency,
                r.created_at,
                r.provider_refund_id,
                None,
                r.status is RefundStatus.SUCCEEDED,
                in_ledger(f"{r.id}.settled"),
            )
            for r in self._refunds.table.rows()
            if r.tenant_id == tenant_id and r.provider == provider
        ]
        views += [
            RecordView(
                RecordKind.WITHDRAWAL,
                w.id,
                w.status.value,
                w.net_amount.minor,
                w.net_amount.currency,
                w.created_at,
                w.provider_reference,
                None,
                w.status is WithdrawalStatus.COMPLETED,
                in_ledger(f"{w.id}.settled"),
            )
            for w in self._withdrawals.table.rows()
            if w.tenant_id == tenant_id and w.provider == provider
        ]
        return views

    def find_run(self, tenant_id: str, provider: str, digest: str) -> ReconciliationRun | None:
        return self.table.runs.find(
            lambda r: r.tenant_id == tenant_id and r.provider == provider and r.digest == digest
        )

    def add_run(self, run: ReconciliationRun) -> None:
        self.table.runs.insert(run)

    def get_run(self, tenant_id: str, run_id: str) -> ReconciliationRun | None:
        return self.table.runs.get((tenant_id, run_id))

    def runs(self, tenant_id: str, limit: int, before: str | None = None) -> list[ReconciliationRun]:
        newest = sorted(
            self.table.runs.where(lambda r: r.tenant_id == tenant_id),
            key=lambda r: (r.started_at, r.id),
            reverse=True,
        )
        if before is not None:
            mark = self.get_run(tenant_id, before)
            if mark is None:
                return []
            newest = [r for r in newest if (r.started_at, r.id) < (mark.started_at, mark.id)]
        return newest[:limit]

    def breaks(
        self,
        tenant_id: str,
        run_id: str,
        kind: BreakKind | None = None,
        status: BreakStatus | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> list[Break]:
        found = self.table.breaks.where(
            lambda b: (
                b.tenant_id == tenant_id
                and b.run_id == run_id
                and (kind is None or b.kind is kind)
                and (status is None or b.status is status)
                and (after is None or b.id > after)
            )
        )
        return sorted(found, key=lambda b: b.id)[:limit]

    def get_break(self, tenant_id: str, break_id: str) -> Break | None:
        return self.table.breaks.get((tenant_id, break_id))

    def update_break(self, item: Break) -> None:
        self.table.breaks.replace(item)
