"""Reconciling a provider's statement against our records and the ledger, and resolving breaks.

Invariants
- One statement (by digest) is reconciled once per (tenant, provider): a re-run answers the first
  run with `replayed=True` and writes nothing.
- A run is one unit of work: its lines are staged, matched, its breaks and its record written and
  any auto-resolution applied together; a bad file or a failure writes nothing.
- Resolution is explicit. The rule `complete_pending` settles, through the same code path a
  provider's webhook takes, a pending payment, refund or payout that the statement shows settled
  for the same amount. A person accepts any other break; an accepted break with a difference posts
  that difference between the provider's clearing account and `recon_suspense` in one balanced
  transfer (its id derived from the break's, so it posts at most once).
- Every run and every resolution leaves an audit event.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Final

import attrs

from payments_core import flows
from payments_core.errors import NotFound, ValidationError
from payments_core.model.reconciliation import (
    Break,
    BreakDraft,
    BreakKind,
    BreakStatus,
    MatchRules,
    ReconciliationRun,
    RecordKind,
    StagedLine,
)
from payments_core.money import Money
from payments_core.policies import Operation, Principal, StepUpAction, require_scope, require_step_up
from payments_core.ports import (
    Progress,
    ProviderEvent,
    ProviderEventType,
    StatementLine,
    UnitOfWork,
)
from payments_core.services import refunds, wallet
from payments_core.services.context import Deps, audit, open_chart
from payments_core.services.payment_lifecycle import complete_payment
from payments_core.states import PaymentStatus, RefundStatus, WithdrawalStatus

AUTO_COMPLETE: Final = "auto:complete_pending"
ACCEPTED: Final = "accepted"
MAX_PAGE: Final = 500
DEFAULT_RULES: Final = MatchRules()


@attrs.frozen
class RunResult:
    run: ReconciliationRun
    replayed: bool


def staged(lines: Iterable[StatementLine]) -> Iterator[StagedLine]:
    """Normalised statement lines as matching reads them (minor units, one currency each)."""
    for line in lines:
        yield StagedLine(
            line.line_number,
            line.type.value,
            line.external_id,
            line.reference,
            line.gross.minor,
            line.fee.minor,
            line.net.minor,
            line.gross.currency,
            line.occurred_at,
        )


def reconcile(
    deps: Deps,
    principal: Principal,
    provider: str,
    digest: str,
    lines: Iterable[StagedLine],
    rules: MatchRules = DEFAULT_RULES,
    auto_resolve: bool = True,
    statement_name: str | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Reconcile one statement (`lines`, whose file has SHA-256 `digest`) of `provider`."""
    require_scope(principal, Operation.RECONCILIATION_RUN)
    _check_digest(digest)
    tenant_id = principal.tenant_id
    with deps.uow() as uow:
        earlier = uow.reconciliation.find_run(tenant_id, provider, digest)
        if earlier is not None:
            return RunResult(earlier, replayed=True)
        started = deps.clock.now()
        uow.reconciliation.stage(tenant_id, lines, progress)
        outcome = uow.reconciliation.match(tenant_id, provider, rules)
        run_id = deps.ids.new_id("rec")
        breaks = [
            _break(tenant_id, run_id, number, draft, started)
            for number, draft in enumerate(outcome.breaks, 1)
        ]
        resolved = 0
        if auto_resolve:
            breaks, resolved = _auto_resolve(uow, deps, provider, breaks, outcome.breaks)
        counts = {kind.value: 0 for kind in BreakKind}
        for item in breaks:
            counts[item.kind.value] += 1
        run = ReconciliationRun(
            id=run_id,
            tenant_id=tenant_id,
            provider=provider,
            digest=digest,
            started_by=principal.subject,
            started_at=started,
            finished_at=deps.clock.now(),
            lines=outcome.lines,
            matched=outcome.matched,
            informational=outcome.informational,
            counts=counts,
            auto_resolved=resolved,
            statement_name=statement_name,
        )
        uow.reconciliation.add_run(run, breaks)
        audit(
            uow, deps, principal, "reconciliation.run", "reconciliation_run", run.id, tenant_id,
            provider=provider, digest=digest, lines=run.lines, breaks=run.breaks, autoResolved=resolved,
        )  # fmt: skip
        uow.commit()
        return RunResult(run, replayed=False)


def get_run(deps: Deps, principal: Principal, run_id: str) -> ReconciliationRun:
    require_scope(principal, Operation.RECONCILIATION_READ)
    with deps.uow.reader() as uow:
        run = uow.reconciliation.get_run(principal.tenant_id, run_id)
    if run is None:
        raise NotFound("no such reconciliation run", resource="reconciliation_run", id=run_id)
    return run


def list_runs(
    deps: Deps, principal: Principal, limit: int = 50, before: str | None = None
) -> list[ReconciliationRun]:
    require_scope(principal, Operation.RECONCILIATION_READ)
    _check_limit(limit)
    with deps.uow.reader() as uow:
        return uow.reconciliation.runs(principal.tenant_id, limit, before)


def list_breaks(
    deps: Deps,
    principal: Principal,
    run_id: str,
    kind: BreakKind | None = None,
    status: BreakStatus | None = None,
    limit: int = 100,
    after: str | None = None,
) -> list[Break]:
    require_scope(principal, Operation.RECONCILIATION_READ)
    _check_limit(limit)
    with deps.uow.reader() as uow:
        if uow.reconciliation.get_run(principal.tenant_id, run_id) is None:
            raise NotFound("no such reconciliation run", resource="reconciliation_run", id=run_id)
        return uow.reconciliation.breaks(principal.tenant_id, run_id, kind, status, limit, after)


def accept_break(deps: Deps, principal: Principal, break_id: str, note: str | None = None) -> Break:
    """A person accepts a break; its difference, if any, posts through `recon_suspense`."""
    require_scope(principal, Operation.RECONCILIATION_RESOLVE)
    require_step_up(principal, StepUpAction.RECONCILIATION, deps.clock.now())
    if note is not None and len(note) > 500:
        raise ValidationError("the note is at most 500 characters", field="note")
    with deps.uow() as uow:
        item = uow.reconciliation.get_break(principal.tenant_id, break_id)
        if item is None:
            raise NotFound("no such break", resource="reconciliation_break", id=break_id)
        run = uow.reconciliation.get_run(principal.tenant_id, item.run_id)
        if run is None:  # pragma: no cover - a break always belongs to a stored run
            raise NotFound("no such reconciliation run", resource="reconciliation_run", id=item.run_id)
        done = item.resolved(ACCEPTED, principal.subject, deps.clock.now(), note)
        if item.difference is not None and not item.difference.is_zero():
            chart = open_chart(uow, item.tenant_id, item.difference.currency)
            uow.ledger.submit(
                flows.reconciliation_adjustment(
                    chart,
                    f"{item.id}.accepted",
                    chart.clearing(run.provider, item.difference.currency),
                    item.difference,
                    f"{item.kind.value} in run {run.id}",
                )
            )
        uow.reconciliation.update_break(done)
        audit(
            uow, deps, principal, "reconciliation.break_accepted", "reconciliation_break", item.id,
            item.tenant_id, kind=item.kind.value,
            difference=item.difference.minor if item.difference is not None else None,
        )  # fmt: skip
        uow.commit()
        return done


def _break(tenant_id: str, run_id: str, number: int, draft: BreakDraft, at: datetime) -> Break:
    currency = (
        draft.line.currency if draft.line is not None else draft.record.currency if draft.record else None
    )
    difference = (
        Money(draft.difference, currency) if draft.difference is not None and currency is not None else None
    )
    line = draft.line.evidence() if draft.line is not None else None
    if line is not None and draft.first_line is not None:
        line["firstLineNumber"] = draft.first_line
    return Break(
        id=f"{run_id}.{number:07d}",
        tenant_id=tenant_id,
        run_id=run_id,
        kind=draft.kind,
        created_at=at,
        line=line,
        record=draft.record.evidence() if draft.record is not None else None,
        difference=difference,
    )


def _auto_resolve(
    uow: UnitOfWork, deps: Deps, provider: str, breaks: list[Break], drafts: Iterable[BreakDraft]
) -> tuple[list[Break], int]:
    """Rule `complete_pending`: settle what the provider settled, through the webhook's code path."""
    out: list[Break] = []
    resolved = 0
    now = deps.clock.now()
    for item, draft in zip(breaks, drafts, strict=True):
        if item.kind is BreakKind.STATUS_MISMATCH and _settle_pending(uow, deps, provider, item, draft):
            out.append(item.resolved(AUTO_COMPLETE, "system", now))
            audit(
                uow, deps, None, "reconciliation.break_auto_resolved", "reconciliation_break", item.id,
                item.tenant_id, kind=item.kind.value, rule=AUTO_COMPLETE,
            )  # fmt: skip
            resolved += 1
        else:
            out.append(item)
    return out, resolved


def _settle_pending(uow: UnitOfWork, deps: Deps, provider: str, item: Break, draft: BreakDraft) -> bool:
    record, line = draft.record, draft.line
    if record is None or line is None:
        return False
    if record.kind is RecordKind.PAYMENT:
        payment = uow.payments.get(item.tenant_id, record.id)
        if payment is None or payment.status is not PaymentStatus.PENDING:
            return False
        complete_payment(uow, deps, payment)
        return True
    event_type, pending = (
        (ProviderEventType.REFUND_SUCCEEDED, record.status == RefundStatus.PENDING.value)
        if record.kind is RecordKind.REFUND
        else (ProviderEventType.PAYOUT_SETTLED, record.status == WithdrawalStatus.PROCESSING.value)
    )
    if not pending or record.provider_reference is None:
        return False
    event = ProviderEvent(
        provider=provider,
        event_id=f"recon:{item.id}",
        type=event_type,
        reference=record.provider_reference,
        occurred_at=line.occurred_at,
        amount=Money(record.amount, record.currency),
    )
    if record.kind is RecordKind.REFUND:
        return refunds.apply_refund_event(uow, deps, event)
    return wallet.apply_payout_event(uow, deps, event)


def _check_digest(digest: str) -> None:
    if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise ValidationError("the statement digest is a lower-case hex SHA-256", field="digest")


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE}", field="limit")
