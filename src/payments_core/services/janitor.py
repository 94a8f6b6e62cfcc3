"""The janitor: asks providers about payments, refunds and withdrawals left pending too long.

A webhook can be lost (an outage on either side, a provider that never retries). The janitor finds
what is still pending past `pending_after` and asks its provider; a verdict is applied exactly as
that provider's webhook would be (`provider_events.apply_event`).

Invariants
- A sweep is three steps, none of them holding a row lock across a provider call: claim a batch
  (one short transaction: each object's next check moves to the end of a lease, so no other
  janitor takes it meanwhile); ask each provider with no transaction open; apply each verdict in
  a unit of work of its own. Several janitors, in one process or many, never ask about or apply
  the same object at the same time.
- Crash-safe: a janitor that dies after claiming leaves its objects pending; they are due again
  once the lease ends. Nothing is half-applied: an answer is applied whole in one unit of work or
  not at all.
- A verdict becomes a `ProviderEvent` with the id `janitor:{object id}:{outcome}`, recorded once
  per (provider, event id) like any event. A real webhook for the same outcome carries another id,
  and whichever comes second finds the object already finished: the state machines make it a
  no-op (a session completes once, a payment is credited once, a refund and a payout settle once).
  A verdict whose amount differs from the object's is recorded and audited, not applied.
- Back-off per object: after a check that settles nothing (no verdict yet, no effect, or the
  provider unavailable) the next is `first_delay * 2^(checks - 1)` later, capped at `max_delay`,
  and never later than a pending checkout session's expiry, so a session is asked about once
  more when it expires.
- Giving up: nothing is failed on a guess. A checkout session's payment ends with the session's
  own expiry (`checkout.expire_sessions`, which each sweep runs once it has caught up with its
  checkout checks, after their final query). Anything else older than `give_up_after` (3 days)
  is no longer asked about and stays pending for reconciliation and a person: failing a refund or
  a payout the provider may have made would book the opposite of what happened.
- Only objects whose provider the `StatusQuery` covers, for their kind, are claimed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Final

import attrs

from payments_core.errors import DomainError, ProviderUnavailable, ValidationError
from payments_core.ports import ProviderEvent
from payments_core.ports.janitor import CheckKind, JanitorStore, PendingCheck, ProviderVerdict, StatusQuery
from payments_core.services import checkout, provider_events
from payments_core.services.context import Deps
from payments_core.services.provider_events import EventOutcome

EVENT_PREFIX: Final = "janitor"
MAX_BATCH: Final = 500


@attrs.frozen
class JanitorSettings:
    pending_after: timedelta = timedelta(minutes=5)  # a webhook is late past this
    lease: timedelta = timedelta(minutes=5)  # longer than any status query may take
    first_delay: timedelta = timedelta(minutes=1)  # after the first check that settles nothing
    max_delay: timedelta = timedelta(hours=1)
    give_up_after: timedelta = timedelta(days=3)


@attrs.frozen
class JanitorDeps:
    """What the janitor needs beyond the core's ports."""

    core: Deps
    store: JanitorStore
    status: StatusQuery
    settings: JanitorSettings = JanitorSettings()


@attrs.frozen
class SweepReport:
    """One sweep: objects claimed, verdicts applied, checks that settled nothing (still pending,
    or a verdict with no effect), checks the provider could not answer, sessions expired."""

    claimed: int = 0
    applied: int = 0
    unsettled: int = 0
    unanswered: int = 0
    expired: int = 0
    caught_up: bool = True  # no claim filled its batch: nothing due was left for the next sweep

    def __add__(self, other: SweepReport) -> SweepReport:
        return SweepReport(
            self.claimed + other.claimed,
            self.applied + other.applied,
            self.unsettled + other.unsettled,
            self.unanswered + other.unanswered,
            self.expired + other.expired,
            self.caught_up and other.caught_up,
        )


Answer = Callable[[PendingCheck], ProviderVerdict | None]


class StatusTable:
    """A `StatusQuery` from a table: (kind, provider) -> the function that asks that provider."""

    def __init__(self, answers: Mapping[tuple[CheckKind, str], Answer]) -> None:
        self._answers = dict(answers)

    def covers(self, kind: CheckKind) -> frozenset[str]:
        return frozenset(provider for (covered, provider) in self._answers if covered is kind)

    def status(self, check: PendingCheck) -> ProviderVerdict | None:
        answer = self._answers.get((check.kind, check.provider))
        if answer is None:
            raise ProviderUnavailable(
                f"the {check.provider} provider cannot be asked about a {check.kind.value}",
                provider=check.provider,
                reason="no status query",
            )
        return answer(check)


NO_STATUS: Final = StatusTable({})


# --- pure helpers ---------------------------------------------------------------------------------


def janitor_event_id(check: PendingCheck, verdict: ProviderVerdict) -> str:
    """One id per (object, outcome): asking twice and hearing the same yields the same event."""
    return f"{EVENT_PREFIX}:{check.object_id}:{verdict.type.value}"


def retry_delay(settings: JanitorSettings, checks: int) -> timedelta:
    """The wait after the `checks`-th check that settled nothing: doubling, capped."""
    exponent = min(max(checks, 1) - 1, 20)
    delay: timedelta = min(settings.first_delay * (2**exponent), settings.max_delay)
    return delay


def next_check_at(settings: JanitorSettings, check: PendingCheck, now: datetime) -> datetime:
    """When to ask again: after the back-off, but at a pending session's expiry at the latest."""
    due = now + retry_delay(settings, check.checks)
    if check.expires_at is not None and now < check.expires_at < due:
        return check.expires_at
    return due


def verdict_event(check: PendingCheck, verdict: ProviderVerdict, now: datetime) -> ProviderEvent:
    """The verdict as the event the provider's webhook would have carried."""
    return ProviderEvent(
        provider=check.provider,
        event_id=janitor_event_id(check, verdict),
        type=verdict.type,
        reference=check.reference,
        occurred_at=now,
        amount=verdict.amount,
        details={**verdict.details, "source": EVENT_PREFIX},
    )


# --- the sweep ------------------------------------------------------------------------------------


def sweep(deps: JanitorDeps, batch: int = 50) -> SweepReport:
    """One pass of every kind, then the session expiry once caught up; what it did."""
    _check_batch(batch)
    checkouts = check_due(deps, CheckKind.CHECKOUT, batch)
    report = checkouts
    for kind in (CheckKind.PAYMENT, CheckKind.REFUND, CheckKind.PAYOUT):
        report += check_due(deps, kind, batch)
    if checkouts.caught_up:  # every session due to expire had its final query first
        expired = checkout.expire_sessions(deps.core, batch)
        report += SweepReport(expired=expired, caught_up=expired < batch)
    return report


def check_due(deps: JanitorDeps, kind: CheckKind, batch: int = 50) -> SweepReport:
    """Claim up to `batch` due objects of `kind`, ask about each and apply what it hears."""
    _check_batch(batch)
    providers = deps.status.covers(kind)
    if not providers:
        return SweepReport()
    settings = deps.settings
    now = deps.core.clock.now()
    claimed = deps.store.claim_due(
        kind,
        providers,
        now=now,
        older_than=now - settings.pending_after,
        newer_than=now - settings.give_up_after,
        lease_until=now + settings.lease,
        limit=batch,
    )
    report = SweepReport(claimed=len(claimed), caught_up=len(claimed) < batch)
    for check in claimed:
        report += _check(deps, check)
    return report


def _check_batch(batch: object) -> None:
    if type(batch) is not int or not 1 <= batch <= MAX_BATCH:
        raise ValidationError(f"batch must be 1 to {MAX_BATCH}", field="batch", maximum=MAX_BATCH)


def _check(deps: JanitorDeps, check: PendingCheck) -> SweepReport:
    """Ask, apply, and reschedule what is still pending. A `DomainError` (the provider down, the
    database away) is a check that settled nothing; anything else is a crash, left to the lease."""
    try:
        verdict = deps.status.status(check)
    except DomainError:
        _reschedule(deps, check)
        return SweepReport(unanswered=1)
    if verdict is None:
        _reschedule(deps, check)
        return SweepReport(unsettled=1)
    event = verdict_event(check, verdict, deps.core.clock.now())
    try:
        outcome = provider_events.apply_event(deps.core, event, check.tenant_id)
    except DomainError:  # the database away, or the object refused the change: ask again later
        _reschedule(deps, check)
        return SweepReport(unanswered=1)
    if outcome is EventOutcome.APPLIED:
        return SweepReport(applied=1)
    _reschedule(deps, check)  # no effect (already finished, or an amount mismatch): ask later
    return SweepReport(unsettled=1)


def _reschedule(deps: JanitorDeps, check: PendingCheck) -> None:
    now = deps.core.clock.now()
    deps.store.reschedule(check, next_check_at(deps.settings, check, now))
