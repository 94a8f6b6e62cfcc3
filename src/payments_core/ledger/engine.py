"""The ledger's rules as one pure function: given what the ledger holds, what does a request do?

`plan(request, view, now)` answers with an `Outcome`: the accepted transfer, the entries it
appends, the new versions of the accounts it touched and the hold it opened or resolved. Stores
apply outcomes atomically; they never decide anything themselves, so every store behaves alike.

Order of checks (each failure raises and changes nothing):
1. Replay: the id exists for the tenant -> identical request returns the first transfer,
   a different one raises `IdempotencyConflict`.
2. The accounts exist in the request's tenant and share the posting's currency.
3. For post/void: the hold exists, is still pending and has not expired; a post names only the
   hold's pairs with at most the reserved amounts.
4. After every entry is applied, no touched account breaks its flags or overflows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

import attrs

from payments_core.errors import (
    CurrencyMismatch,
    ExceedsPendingAmount,
    IdempotencyConflict,
    NotFound,
    PendingTransferAlreadyResolved,
    PendingTransferExpired,
    PendingTransferNotFound,
    ValidationError,
)
from payments_core.ledger.accounts import Account, Bucket, Side
from payments_core.ledger.transfers import (
    Entry,
    Hold,
    Posting,
    Transfer,
    TransferMode,
    TransferRequest,
    expiry_id,
)
from payments_core.states import HOLD, HoldStatus


class LedgerView(Protocol):
    """Read access to a ledger's current state, scoped by tenant."""

    def find_account(self, tenant_id: str, account_id: str) -> Account | None: ...

    def find_transfer(self, tenant_id: str, transfer_id: str) -> Transfer | None: ...

    def find_hold(self, tenant_id: str, transfer_id: str) -> Hold | None: ...


class AccountNotFound(NotFound):
    """A posting names an account that does not exist in the transfer's tenant."""


@attrs.frozen
class Outcome:
    transfer: Transfer
    replayed: bool = False
    entries: tuple[Entry, ...] = ()
    accounts: tuple[Account, ...] = ()
    hold: Hold | None = None


def _require_aware(now: datetime) -> None:
    if now.utcoffset() is None:
        raise ValidationError("the ledger's clock must be timezone-aware")


def plan(request: TransferRequest, view: LedgerView, now: datetime) -> Outcome:
    """Decide what `request` does against `view` at `now`, without changing anything."""
    _require_aware(now)
    existing = view.find_transfer(request.tenant_id, request.id)
    if existing is not None:
        if existing.request != request:
            raise IdempotencyConflict(
                "a transfer with this id exists with different content", transferId=request.id
            )
        return Outcome(transfer=existing, replayed=True)
    if request.mode is TransferMode.POSTED:
        return _move(request, request.postings, Bucket.POSTED, view, now, hold=None)
    if request.mode is TransferMode.PENDING:
        if request.expires_at is not None and request.expires_at <= now:
            raise ValidationError("a hold must expire in the future", field="expires_at")
        hold = Hold(request.id, request.tenant_id, request.postings, request.expires_at)
        return _move(request, request.postings, Bucket.PENDING, view, now, hold=hold)
    return _resolve(request, view, now)


def plan_expiry(hold: Hold, view: LedgerView, now: datetime) -> Outcome:
    """Release a hold whose expiry has passed, as a transfer minted by the ledger."""
    _require_aware(now)
    if not hold.is_expired(now):
        raise ValidationError("the hold has not expired yet", transferId=hold.transfer_id)
    request = TransferRequest(
        expiry_id(hold.transfer_id),
        hold.tenant_id,
        "hold_expired",
        TransferMode.EXPIRE_PENDING,
        pending_id=hold.transfer_id,
    )
    return _resolve(request, view, now)


def _resolve(request: TransferRequest, view: LedgerView, now: datetime) -> Outcome:
    assert request.pending_id is not None  # guaranteed by TransferRequest's validation
    hold = view.find_hold(request.tenant_id, request.pending_id)
    if hold is None:
        raise PendingTransferNotFound("no such pending transfer", pendingId=request.pending_id)
    if hold.status is not HoldStatus.PENDING:
        raise PendingTransferAlreadyResolved(
            f"the hold is already {hold.status.value}",
            pendingId=hold.transfer_id,
            currentStatus=hold.status.value,
        )
    if request.mode is TransferMode.EXPIRE_PENDING:
        target = HoldStatus.EXPIRED
    else:
        if hold.is_expired(now):
            raise PendingTransferExpired("the hold has expired", pendingId=hold.transfer_id)
        target = HoldStatus.POSTED if request.mode is TransferMode.POST_PENDING else HoldStatus.VOIDED
    resolved = attrs.evolve(hold, status=HOLD.require(hold.status, target), resolved_by=request.id)

    posted = _amounts_to_post(request, hold) if target is HoldStatus.POSTED else ()
    moves: list[tuple[Posting, Bucket, int]] = [(p, Bucket.PENDING, -1) for p in hold.postings]
    moves += [(p, Bucket.POSTED, 1) for p in posted]
    recorded = posted if target is HoldStatus.POSTED else hold.postings
    return _apply(request, moves, recorded, view, now, resolved)


def _amounts_to_post(request: TransferRequest, hold: Hold) -> tuple[Posting, ...]:
    if not request.postings:
        return hold.postings
    reserved = {p.pair: p for p in hold.postings}
    for posting in request.postings:
        held = reserved.get(posting.pair)
        if held is None:
            raise ValidationError(
                "a post may only name the hold's own account pairs",
                debitAccountId=posting.debit_account_id,
                creditAccountId=posting.credit_account_id,
            )
        if posting.amount.currency != held.amount.currency:
            raise CurrencyMismatch("a post must use the hold's currency")
        if posting.amount.minor > held.amount.minor:
            raise ExceedsPendingAmount(
                "cannot post more than the hold reserved",
                reserved=held.amount.minor,
                requested=posting.amount.minor,
            )
    return request.postings


def _move(
    request: TransferRequest,
    postings: Sequence[Posting],
    bucket: Bucket,
    view: LedgerView,
    now: datetime,
    hold: Hold | None,
) -> Outcome:
    return _apply(request, [(p, bucket, 1) for p in postings], tuple(postings), view, now, hold)


def _apply(
    request: TransferRequest,
    moves: Iterable[tuple[Posting, Bucket, int]],
    recorded: tuple[Posting, ...],
    view: LedgerView,
    now: datetime,
    hold: Hold | None,
) -> Outcome:
    touched: dict[str, Account] = {}
    originals: dict[str, Account] = {}
    entries: list[Entry] = []
    for posting, bucket, sign in moves:
        for side, account_id in (
            (Side.DEBIT, posting.debit_account_id),
            (Side.CREDIT, posting.credit_account_id),
        ):
            account = touched.get(account_id) or _account(view, request.tenant_id, account_id)
            originals.setdefault(account_id, account)
            if account.currency != posting.amount.currency:
                raise CurrencyMismatch(
                    "posting currency differs from the account's",
                    accountId=account_id,
                    accountCurrency=account.currency,
                    postingCurrency=posting.amount.currency,
                )
            delta = sign * posting.amount.minor
            touched[account_id] = account.moved(side, bucket, delta)
            entries.append(
                Entry(
                    transfer_id=request.id,
                    tenant_id=request.tenant_id,
                    account_id=account_id,
                    currency=account.currency,
                    side=side,
                    bucket=bucket,
                    amount=delta,
                    created_at=now,
                )
            )
    for account in sorted(touched.values(), key=lambda a: a.id):
        violation = account.flag_violation(before=originals[account.id])
        if violation is not None:
            raise violation
    return Outcome(
        transfer=Transfer(request=request, postings=recorded, created_at=now),
        entries=tuple(entries),
        accounts=tuple(sorted(touched.values(), key=lambda a: a.id)),
        hold=hold,
    )


def _account(view: LedgerView, tenant_id: str, account_id: str) -> Account:
    account = view.find_account(tenant_id, account_id)
    if account is None:
        raise AccountNotFound("account not found", accountId=account_id)
    return account


@attrs.define
class StagedView:
    """A view over another with outcomes layered on top, for batches that commit as one."""

    base: LedgerView
    accounts: dict[tuple[str, str], Account] = attrs.Factory(dict)
    transfers: dict[tuple[str, str], Transfer] = attrs.Factory(dict)
    holds: dict[tuple[str, str], Hold] = attrs.Factory(dict)

    def find_account(self, tenant_id: str, account_id: str) -> Account | None:
        staged = self.accounts.get((tenant_id, account_id))
        return staged if staged is not None else self.base.find_account(tenant_id, account_id)

    def find_transfer(self, tenant_id: str, transfer_id: str) -> Transfer | None:
        staged = self.transfers.get((tenant_id, transfer_id))
        return staged if staged is not None else self.base.find_transfer(tenant_id, transfer_id)

    def find_hold(self, tenant_id: str, transfer_id: str) -> Hold | None:
        staged = self.holds.get((tenant_id, transfer_id))
        return staged if staged is not None else self.base.find_hold(tenant_id, transfer_id)

    def stage(self, outcome: Outcome) -> None:
        record(outcome, self.accounts, self.transfers, self.holds)


def record(
    outcome: Outcome,
    accounts: dict[tuple[str, str], Account],
    transfers: dict[tuple[str, str], Transfer],
    holds: dict[tuple[str, str], Hold],
) -> None:
    """Keep an outcome's new state in dicts keyed by (tenant, id); a replay changes nothing."""
    if outcome.replayed:
        return
    transfer = outcome.transfer
    transfers[(transfer.tenant_id, transfer.id)] = transfer
    for account in outcome.accounts:
        accounts[(account.tenant_id, account.id)] = account
    if outcome.hold is not None:
        holds[(outcome.hold.tenant_id, outcome.hold.transfer_id)] = outcome.hold


def plan_batch(requests: Sequence[TransferRequest], view: LedgerView, now: datetime) -> list[Outcome]:
    """Plan many requests as one unit: each sees the ones before it; any failure fails all."""
    staged = StagedView(view)
    outcomes = []
    for request in requests:
        outcome = plan(request, staged, now)
        staged.stage(outcome)
        outcomes.append(outcome)
    return outcomes
