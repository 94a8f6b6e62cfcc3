"""Transfers: the only way money moves. Entries: the append-only journal they leave.

Invariants
- A posting moves a positive amount from one account (debited) to another (credited) in one
  currency, so every transfer is balanced per currency by construction.
- A transfer has a client-chosen id, unique per tenant: re-submitting it with identical content
  returns the first result, with different content raises `IdempotencyConflict`.
- Four modes, after TigerBeetle's two-phase transfers:
  `posted` moves money now; `pending` reserves it (a hold, optionally expiring);
  `post_pending` posts a hold in full or in part (the rest is released);
  `void_pending` releases a hold. A hold resolves once: posted, voided or expired.
- Entries are append-only and signed: each says which account, which side, which bucket
  (pending or posted) moved by how much. A correction is a new transfer, never an edit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Final

import attrs

from payments_core.errors import ValidationError
from payments_core.ledger.accounts import Bucket, Side, check_identifier
from payments_core.money import Money
from payments_core.states import HoldStatus

MAX_POSTINGS: Final = 64
MAX_METADATA_ITEMS: Final = 32
MAX_METADATA_LENGTH: Final = 500
SYSTEM_ID_MARK: Final = "#"  # only the ledger itself mints ids with it (hold expiries)


class TransferMode(StrEnum):
    POSTED = "posted"
    PENDING = "pending"
    POST_PENDING = "post_pending"
    VOID_PENDING = "void_pending"
    EXPIRE_PENDING = "expire_pending"  # minted by the ledger when a hold times out


def _aware(value: datetime | None) -> None:
    if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
        raise ValidationError("times must be timezone-aware datetimes")


@attrs.frozen
class Posting:
    """Debit one account, credit another, by a positive amount."""

    debit_account_id: str
    credit_account_id: str
    amount: Money

    def __attrs_post_init__(self) -> None:
        check_identifier("debit account id", self.debit_account_id)
        check_identifier("credit account id", self.credit_account_id)
        if not isinstance(self.amount, Money):
            raise ValidationError("a posting amount must be Money")
        self.amount.require_positive()
        if self.debit_account_id == self.credit_account_id:
            raise ValidationError("a posting cannot debit and credit the same account")

    @property
    def pair(self) -> tuple[str, str]:
        return (self.debit_account_id, self.credit_account_id)


def _metadata(value: Mapping[str, str] | Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    items = dict(value.items() if isinstance(value, Mapping) else value)
    if len(items) > MAX_METADATA_ITEMS:
        raise ValidationError(f"at most {MAX_METADATA_ITEMS} metadata items", field="metadata")
    for key, item in items.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise ValidationError("metadata keys and values are strings", field="metadata")
        if not key or len(key) > 64 or len(item) > MAX_METADATA_LENGTH:
            raise ValidationError("metadata key or value too long", field="metadata")
    return tuple(sorted(items.items()))


def _postings(value: Iterable[Posting]) -> tuple[Posting, ...]:
    return tuple(value)


@attrs.frozen
class TransferRequest:
    """What a client asks the ledger to do. Build one with the named constructors."""

    id: str
    tenant_id: str
    kind: str
    mode: TransferMode
    postings: tuple[Posting, ...] = attrs.field(default=(), converter=_postings)
    pending_id: str | None = None
    expires_at: datetime | None = None
    metadata: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_metadata)

    def __attrs_post_init__(self) -> None:
        check_identifier("transfer id", self.id)
        if SYSTEM_ID_MARK in self.id and self.mode is not TransferMode.EXPIRE_PENDING:
            raise ValidationError(f"transfer ids may not contain {SYSTEM_ID_MARK!r}", field="id")
        check_identifier("tenant id", self.tenant_id)
        check_identifier("transfer kind", self.kind)
        if not isinstance(self.mode, TransferMode):
            raise ValidationError("unknown transfer mode", field="mode")
        if len(self.postings) > MAX_POSTINGS:
            raise ValidationError(f"at most {MAX_POSTINGS} postings", field="postings")
        if not all(isinstance(p, Posting) for p in self.postings):
            raise ValidationError("postings must be Posting values", field="postings")
        _aware(self.expires_at)
        resolves = self.mode in (
            TransferMode.POST_PENDING,
            TransferMode.VOID_PENDING,
            TransferMode.EXPIRE_PENDING,
        )
        if resolves:
            if self.pending_id is None:
                raise ValidationError("resolving a hold needs the pending transfer id")
            check_identifier("pending transfer id", self.pending_id)
            if self.expires_at is not None:
                raise ValidationError("only a pending transfer can expire", field="expires_at")
            if self.mode is not TransferMode.POST_PENDING and self.postings:
                raise ValidationError("voiding a hold takes no postings", field="postings")
        else:
            if self.pending_id is not None:
                raise ValidationError("only post and void refer to a pending transfer")
            if not self.postings:
                raise ValidationError("a transfer needs at least one posting", field="postings")
            if self.mode is TransferMode.POSTED and self.expires_at is not None:
                raise ValidationError("only a pending transfer can expire", field="expires_at")
        pairs = [p.pair for p in self.postings]
        if self.mode in (TransferMode.PENDING, TransferMode.POST_PENDING) and len(set(pairs)) != len(pairs):
            raise ValidationError("a hold moves each account pair once", field="postings")

    @classmethod
    def posted(
        cls,
        id: str,
        tenant_id: str,
        kind: str,
        postings: Iterable[Posting],
        metadata: Mapping[str, str] | None = None,
    ) -> TransferRequest:
        return cls(id, tenant_id, kind, TransferMode.POSTED, tuple(postings), None, None, metadata or {})

    @classmethod
    def pending(
        cls,
        id: str,
        tenant_id: str,
        kind: str,
        postings: Iterable[Posting],
        expires_at: datetime | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> TransferRequest:
        return cls(
            id, tenant_id, kind, TransferMode.PENDING, tuple(postings), None, expires_at, metadata or {}
        )

    @classmethod
    def post_pending(
        cls,
        id: str,
        tenant_id: str,
        kind: str,
        pending_id: str,
        postings: Iterable[Posting] = (),
        metadata: Mapping[str, str] | None = None,
    ) -> TransferRequest:
        """Post a hold: no postings posts it in full; otherwise each posting names one of the
        hold's (debit, credit) pairs with an amount up to what it reserved, and every pair
        left out or posted short is released."""
        return cls(
            id, tenant_id, kind, TransferMode.POST_PENDING, tuple(postings), pending_id, None,
            metadata or {},
        )  # fmt: skip

    @classmethod
    def void_pending(
        cls,
        id: str,
        tenant_id: str,
        kind: str,
        pending_id: str,
        metadata: Mapping[str, str] | None = None,
    ) -> TransferRequest:
        return cls(id, tenant_id, kind, TransferMode.VOID_PENDING, (), pending_id, None, metadata or {})

    def metadata_dict(self) -> dict[str, str]:
        return dict(self.metadata)


def expiry_id(pending_id: str) -> str:
    return f"{pending_id}{SYSTEM_ID_MARK}expired"


@attrs.frozen
class Transfer:
    """A transfer the ledger accepted: the request as sent and what it actually moved.

    `postings` are the amounts that moved in this transfer's own bucket: for a hold the
    reserved amounts, for a post the posted amounts, for a void or expiry the released ones.
    """

    request: TransferRequest
    postings: tuple[Posting, ...]
    created_at: datetime

    @property
    def id(self) -> str:
        return self.request.id

    @property
    def tenant_id(self) -> str:
        return self.request.tenant_id

    @property
    def mode(self) -> TransferMode:
        return self.request.mode

    @property
    def kind(self) -> str:
        return self.request.kind


@attrs.frozen
class Hold:
    """The state of a pending transfer's reservation."""

    transfer_id: str
    tenant_id: str
    postings: tuple[Posting, ...]
    expires_at: datetime | None
    status: HoldStatus = HoldStatus.PENDING
    resolved_by: str | None = None

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


@attrs.frozen
class Entry:
    """One signed movement of one balance field of one account. Never updated, never deleted."""

    transfer_id: str
    tenant_id: str
    account_id: str
    currency: str
    side: Side
    bucket: Bucket
    amount: int
    created_at: datetime
