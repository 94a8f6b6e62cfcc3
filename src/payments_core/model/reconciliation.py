"""Reconciliation runs and their breaks: what a statement said that our books did not.

Invariants
- A run belongs to one (tenant, provider) and one statement file, named by its SHA-256 digest;
  (tenant, provider, digest) is unique, so the same statement is reconciled once and a re-run is a
  no-op that answers the first run.
- A break carries the evidence that proves it: the statement row (`line`, as read) and/or our record
  (`record`, as it stood), and, when one currency measures it, the signed `difference` between the
  provider's statement and our books as the provider's clearing account sees them. A settlement
  payout's break adds to its line what it settles: `settles: {"lines": n, "net": minor}`.
- A break is resolved once (open -> resolved), by a rule or by a person; an accepted break with a
  difference has posted exactly that difference through `recon_suspense`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

import attrs

from payments_core.errors import InvalidOperation, ValidationError
from payments_core.model.common import aware, freeze_metadata
from payments_core.money import Money


class BreakKind(StrEnum):
    MISSING_IN_LEDGER = "missing_in_ledger"
    MISSING_IN_STATEMENT = "missing_in_statement"
    AMOUNT_MISMATCH = "amount_mismatch"
    CURRENCY_MISMATCH = "currency_mismatch"
    STATUS_MISMATCH = "status_mismatch"
    FEE_MISMATCH = "fee_mismatch"
    DUPLICATE_IN_STATEMENT = "duplicate_in_statement"


class BreakStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class RecordKind(StrEnum):
    PAYMENT = "payment"
    REFUND = "refund"
    WITHDRAWAL = "withdrawal"


@attrs.frozen
class MatchRules:
    """How lenient matching is.

    `window`: how far apart a statement line's time and a record's may be for the last-resort
    match on amount + currency + time. `cutoff`: a settled record is expected on the statement
    only when it is older than the statement's last line by at least this much (younger ones may
    settle in the next statement).
    """

    window: timedelta = timedelta(days=1)
    cutoff: timedelta = timedelta(hours=1)

    def __attrs_post_init__(self) -> None:
        if self.window < timedelta(0) or self.cutoff < timedelta(0):
            raise ValidationError("the match window and the cut-off must not be negative")


class StagedLine(NamedTuple):
    """A statement line as matching reads it: amounts in signed minor units of `currency`.

    A named tuple rather than an attrs class: a statement has millions of them, they are built by
    the parsers and handed to COPY as they are, and a tuple costs the least to build and to send.
    `payout_id` names the provider's payout that settled the line, when the statement says so.
    """

    line_number: int
    type: str
    external_id: str
    reference: str | None
    gross: int
    fee: int
    net: int
    currency: str
    occurred_at: datetime
    payout_id: str | None = None

    def evidence(self) -> dict[str, Any]:
        return {
            "lineNumber": self.line_number,
            "type": self.type,
            "externalId": self.external_id,
            "reference": self.reference,
            "gross": self.gross,
            "fee": self.fee,
            "net": self.net,
            "currency": self.currency,
            "occurredAt": self.occurred_at.isoformat(),
            "payoutId": self.payout_id,
        }


@attrs.frozen
class RecordView:
    """One operational record (payment, refund, withdrawal) as matching reads it.

    `amount` is unsigned minor units (a withdrawal's is what was paid out, net of our fee);
    `settled` says whether our books call it done; `in_ledger` whether its settling transfer is
    in the journal.
    """

    kind: RecordKind
    id: str
    status: str
    amount: int
    currency: str
    created_at: datetime
    provider_reference: str | None
    fee: int | None
    settled: bool
    in_ledger: bool

    @property
    def signed_amount(self) -> int:
        """The record's amount as the provider's balance sees it: money in positive, out negative."""
        return self.amount if self.kind is RecordKind.PAYMENT else -self.amount

    def evidence(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "id": self.id,
            "status": self.status,
            "amount": self.amount,
            "currency": self.currency,
            "fee": self.fee,
            "providerReference": self.provider_reference,
            "createdAt": self.created_at.isoformat(),
            "inLedger": self.in_ledger,
        }


def _optional_evidence(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return None if value is None else freeze_metadata(value)


@attrs.frozen
class Break:
    id: str
    tenant_id: str
    run_id: str
    kind: BreakKind
    created_at: datetime = attrs.field(validator=aware)
    line: Mapping[str, Any] | None = attrs.field(
        default=None, converter=attrs.converters.optional(freeze_metadata)
    )
    record: Mapping[str, Any] | None = attrs.field(
        default=None, converter=attrs.converters.optional(freeze_metadata)
    )
    difference: Money | None = None
    status: BreakStatus = BreakStatus.OPEN
    resolution: str | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = attrs.field(default=None, validator=aware)
    note: str | None = None

    def resolved(self, resolution: str, by: str, at: datetime, note: str | None = None) -> Break:
        if self.status is BreakStatus.RESOLVED:
            raise InvalidOperation("this break is resolved already", break_id=self.id)
        return attrs.evolve(
            self,
            status=BreakStatus.RESOLVED,
            resolution=resolution,
            resolved_by=by,
            resolved_at=at,
            note=note,
        )


@attrs.frozen
class Settled:
    """What a settlement payout line settles: how many lines name it, and the sum of their nets
    (None when they are not all in the payout's currency: no one currency measures them)."""

    lines: int
    net: int | None

    def evidence(self) -> dict[str, Any]:
        return {"lines": self.lines, "net": self.net}


@attrs.frozen
class BreakDraft:
    """A break as matching finds it, before the run gives it an id and a time."""

    kind: BreakKind
    line: StagedLine | None = None
    record: RecordView | None = None
    difference: int | None = None
    first_line: int | None = None  # a duplicate's first occurrence
    settles: Settled | None = None  # a settlement payout's items


@attrs.frozen
class MatchOutcome:
    """What a match found; the breaks themselves are written by the store, not carried here,
    so a statement with millions of breaks costs no memory."""

    lines: int
    matched: int
    informational: int  # fee and adjustment lines: no record of ours to match them to
    counts: Mapping[str, int] = attrs.field(converter=freeze_metadata)

    @property
    def breaks(self) -> int:
        return sum(self.counts.values())


def break_id(run_id: str, number: int) -> str:
    """Breaks are numbered from 1 in the matcher's order, so their ids sort in that order."""
    return f"{run_id}.{number:07d}"


@attrs.frozen
class ReconciliationRun:
    id: str
    tenant_id: str
    provider: str
    digest: str
    started_by: str
    started_at: datetime = attrs.field(validator=aware)
    finished_at: datetime = attrs.field(validator=aware)
    lines: int
    matched: int
    informational: int
    counts: Mapping[str, int] = attrs.field(converter=freeze_metadata)
    auto_resolved: int = 0
    statement_name: str | None = None

    @property
    def duration_ms(self) -> int:
        return int((self.finished_at - self.started_at) / timedelta(milliseconds=1))

    @property
    def breaks(self) -> int:
        return sum(self.counts.values())

    @property
    def clean(self) -> bool:
        return self.breaks == 0
