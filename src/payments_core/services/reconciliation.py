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

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

import attrs

from payments_core import flows
from payments_core.errors import NotFound, ValidationError
from payments_core.model.reconciliation import (
    Break,
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
    UnitOfWork,
)
from payments_core.ports.statements import PlainCsv
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
    plain: PlainCsv | None = None,
) -> RunResult:
    """Reconcile one statement (`lines`, whose file has SHA-256 `digest`) of `provider`.

    `plain`, the same statement as a file the store may convert itself, is tried first; `lines`
    are staged when the store answers that it did not (and only then are they read)."""
    require_scope(principal, Operation.RECONCILIATION_RUN)
    _check_digest(digest)
    tenant_id = principal.tenant_id
    with deps.uow() as uow:
        earlier = uow.reconciliation.find_run(tenant_id, provider, digest)
        if earlier is not None:
            return RunResult(earlier, replayed=True)
        started = deps.clock.now()
        run_id = deps.ids.new_id("rec")
        staged = uow.reconciliation.stage_csv(tenant_id, plain, progress) if plain is not None else None
        if staged is None:
            uow.reconciliation.stage(tenant_id, lines, progress)
        outcome = uow.reconciliation.match(tenant_id, provider, run_id, rules, started)
        resolved = _auto_resolve(uow, deps, provider, tenant_id, run_id) if auto_resolve else 0
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
            counts=outcome.counts,
            auto_resolved=resolved,
            statement_name=statement_name,
        )
        uow.reconciliation.add_run(run)
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


def _auto_resolve(uow: UnitOfWork, deps: Deps, provider: str, tenant_id: str, run_id: str) -> int:
    """Rule `complete_pending`: settle what the provider settled, through the webhook's code path."""
    resolved = 0
    now = deps.clock.now()
    after: str | None = None
    while True:
        page = uow.reconciliation.breaks(
            tenant_id, run_id, BreakKind.STATUS_MISMATCH, BreakStatus.OPEN, MAX_PAGE, after
        )
        for item in page:
            if _settle_pending(uow, deps, provider, item):
                uow.reconciliation.update_break(item.resolved(AUTO_COMPLETE, "system", now))
                audit(
                    uow, deps, None, "reconciliation.break_auto_resolved", "reconciliation_break", item.id,
                    item.tenant_id, kind=item.kind.value, rule=AUTO_COMPLETE,
                )  # fmt: skip
                resolved += 1
        if len(page) < MAX_PAGE:
            return resolved
        after = page[-1].id


def _settle_pending(uow: UnitOfWork, deps: Deps, provider: str, item: Break) -> bool:
    """Settle the break's record if it is still pending and the statement's amount is its own."""
    record, line = item.record, item.line
    if record is None or line is None:
        return False
    kind = RecordKind(record["kind"])
    if kind is RecordKind.PAYMENT:
        payment = uow.payments.get(item.tenant_id, str(record["id"]))
        if payment is None or payment.status is not PaymentStatus.PENDING:
            return False
        complete_payment(uow, deps, payment)
        return True
    event_type, pending = (
        (ProviderEventType.REFUND_SUCCEEDED, record["status"] == RefundStatus.PENDING.value)
        if kind is RecordKind.REFUND
        else (ProviderEventType.PAYOUT_SETTLED, record["status"] == WithdrawalStatus.PROCESSING.value)
    )
    reference = record.get("providerReference")
    if not pending or not isinstance(reference, str):
        return False
    event = ProviderEvent(
        provider=provider,
        event_id=f"recon:{item.id}",
        type=event_type,
        reference=reference,
        occurred_at=datetime.fromisoformat(str(line["occurredAt"])),
        amount=Money(int(record["amount"]), str(record["currency"])),
    )
    if kind is RecordKind.REFUND:
        return refunds.apply_refund_event(uow, deps, event)
    return wallet.apply_payout_event(uow, deps, event)


def _check_digest(digest: str) -> None:
    if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise ValidationError("the statement digest is a lower-case hex SHA-256", field="digest")


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE}", field="limit")


def run_view(run: ReconciliationRun) -> dict[str, Any]:
    """A run as the API and the CLI's reports show it."""
    return {
        "id": run.id,
        "provider": run.provider,
        "digest": run.digest,
        "statement": run.statement_name,
        "startedBy": run.started_by,
        "startedAt": run.started_at.isoformat(),
        "finishedAt": run.finished_at.isoformat(),
        "durationMs": run.duration_ms,
        "lines": run.lines,
        "matched": run.matched,
        "informational": run.informational,
        "breaks": run.breaks,
        "autoResolved": run.auto_resolved,
        "counts": dict(run.counts),
    }


def break_view(item: Break) -> dict[str, Any]:
    return {
        "id": item.id,
        "runId": item.run_id,
        "kind": item.kind.value,
        "status": item.status.value,
        "difference": item.difference.minor if item.difference is not None else None,
        "currency": item.difference.currency if item.difference is not None else _currency_of(item),
        "line": dict(item.line) if item.line is not None else None,
        "record": dict(item.record) if item.record is not None else None,
        "resolution": item.resolution,
        "resolvedBy": item.resolved_by,
        "resolvedAt": item.resolved_at.isoformat() if item.resolved_at is not None else None,
        "note": item.note,
    }


def _currency_of(item: Break) -> str | None:
    for evidence in (item.line, item.record):
        if evidence is not None and isinstance(evidence.get("currency"), str):
            return str(evidence["currency"])
    return None
