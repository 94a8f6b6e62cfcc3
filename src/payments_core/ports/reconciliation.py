"""The reconciliation store: runs, their breaks, and the matching engine that finds them.

A store stages a run's statement lines and matches them against its own records and ledger, set-wise
where it can (PostgreSQL: COPY into a work table of the run, then SQL); the rules are those of
`payments_core.matching`, which the in-memory store runs as is. Everything a run writes belongs to
the unit of work it was called in, so a failed run leaves nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol

from payments_core.model.reconciliation import (
    Break,
    BreakKind,
    BreakStatus,
    MatchOutcome,
    MatchRules,
    ReconciliationRun,
    StagedLine,
)
from payments_core.ports.statements import PlainCsv

Progress = Callable[[int], None]
"""Told how many lines have been staged so far, every few thousand lines."""


class ReconciliationStore(Protocol):
    def stage(self, tenant_id: str, lines: Iterable[StagedLine], progress: Progress | None = None) -> int:
        """Hold these lines for the next `match` in this unit of work; returns how many."""
        ...

    def stage_csv(self, tenant_id: str, plain: PlainCsv, progress: Progress | None = None) -> int | None:
        """Stage the statement file `plain` itself, as `stage` would stage its parser's lines, and
        return how many; or stage nothing and return None (a store that cannot, or a file it is
        unsure of), and the caller stages the parser's lines."""
        ...

    def match(
        self, tenant_id: str, provider: str, run_id: str, rules: MatchRules, at: datetime
    ) -> MatchOutcome:
        """Match the staged lines against this tenant's records of `provider` and the ledger, and
        write every break of run `run_id` (ids from `break_id`, in the matcher's order, created
        `at`); the run itself is added after, in the same unit of work."""
        ...

    def find_run(self, tenant_id: str, provider: str, digest: str) -> ReconciliationRun | None: ...

    def add_run(self, run: ReconciliationRun) -> None: ...

    def get_run(self, tenant_id: str, run_id: str) -> ReconciliationRun | None: ...

    def runs(self, tenant_id: str, limit: int, before: str | None = None) -> list[ReconciliationRun]:
        """Newest first; `before` is the id of the last run of the previous page."""
        ...

    def breaks(
        self,
        tenant_id: str,
        run_id: str,
        kind: BreakKind | None = None,
        status: BreakStatus | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> list[Break]:
        """In id order; `after` is the id of the last break of the previous page."""
        ...

    def get_break(self, tenant_id: str, break_id: str) -> Break | None:
        """The break, locked for update in this unit of work."""
        ...

    def update_break(self, item: Break) -> None: ...
