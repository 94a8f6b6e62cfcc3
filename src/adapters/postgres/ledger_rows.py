"""How the core's ledger values travel to and from PostgreSQL: the JSON of a transfer's request
and postings, the array literals `ledger_post` and `ledger_post_batch` take (one round trip per
call, whatever the number of postings), and the rows read back as accounts, holds and entries.

Kept apart from the stores (`ledger`) so that they read as the ledger's operations alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.postgres.array_literals import int_array, text_array
from payments_core.ledger import (
    Account,
    AccountFlags,
    Balances,
    Bucket,
    Entry,
    Hold,
    Posting,
    Side,
    TransferMode,
    TransferRequest,
)
from payments_core.money import Money
from payments_core.states import HoldStatus

ALL_TENANTS = "*"


def instant(moment: datetime | None) -> str | None:
    """One spelling per instant, so that identical requests compare equal as JSON."""
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="microseconds")


def postings_json(postings: Sequence[Posting]) -> list[dict[str, Any]]:
    return [
        {"debit": p.debit_account_id, "credit": p.credit_account_id, "amount": p.amount.minor,
         "currency": p.amount.currency}
        for p in postings
    ]  # fmt: skip


def request_json(request: TransferRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "tenant_id": request.tenant_id,
        "kind": request.kind,
        "mode": request.mode.value,
        "postings": postings_json(request.postings),
        "pending_id": request.pending_id,
        "expires_at": instant(request.expires_at),
        "metadata": [list(item) for item in request.metadata],
    }


POST_SQL = (
    "SELECT ledger_post(%s::jsonb, %s, %s::text[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[],"
    " %s::text[], %s::text[], %s::bigint[], %s::text[])"
)
_FIELDS = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")


def post_arrays(request: TransferRequest) -> tuple[str, ...]:
    """What a posted or pending transfer does, as `ledger_post` takes it (array literals): the
    touched accounts in id order with their four balance deltas, then one journal row per posting."""
    bucket = "posted" if request.mode is TransferMode.POSTED else "pending"
    deltas: dict[str, dict[str, int]] = {}
    for posting in request.postings:
        for side, account_id in (
            ("debits", posting.debit_account_id),
            ("credits", posting.credit_account_id),
        ):
            row = deltas.setdefault(account_id, dict.fromkeys(_FIELDS, 0))
            row[f"{side}_{bucket}"] += posting.amount.minor
    ids = sorted(deltas)
    return (
        text_array(ids),
        *(int_array(deltas[i][field] for i in ids) for field in _FIELDS),
        text_array(p.debit_account_id for p in request.postings),
        text_array(p.credit_account_id for p in request.postings),
        int_array(p.amount.minor for p in request.postings),
        text_array(p.amount.currency for p in request.postings),
    )


BATCH_SQL = (
    "SELECT ledger_post_batch(%s, %s::text[], %s::text[], %s::text[], %s::jsonb[], %s::integer[],"
    " %s::text[], %s::text[], %s::bigint[], %s::text[])"
)


def batch_arrays(requests: Sequence[TransferRequest]) -> tuple[str, ...]:
    """The columns `ledger_post_batch` takes (array literals): one entry per transfer, then one
    per posting."""
    rows = [(n, p) for n, r in enumerate(requests, start=1) for p in r.postings]
    return (
        text_array(r.tenant_id for r in requests),
        text_array(r.id for r in requests),
        text_array(r.kind for r in requests),
        text_array(json.dumps(request_json(r)) for r in requests),
        int_array(n for n, _ in rows),
        text_array(p.debit_account_id for _, p in rows),
        text_array(p.credit_account_id for _, p in rows),
        int_array(p.amount.minor for _, p in rows),
        text_array(p.amount.currency for _, p in rows),
    )


def parse_postings(data: list[dict[str, Any]]) -> tuple[Posting, ...]:
    return tuple(Posting(p["debit"], p["credit"], Money(int(p["amount"]), p["currency"])) for p in data)


def parse_request(data: dict[str, Any]) -> TransferRequest:
    expires = data.get("expires_at")
    return TransferRequest(
        id=data["id"],
        tenant_id=data["tenant_id"],
        kind=data["kind"],
        mode=TransferMode(data["mode"]),
        postings=parse_postings(data["postings"]),
        pending_id=data.get("pending_id"),
        expires_at=datetime.fromisoformat(expires) if expires else None,
        metadata=[tuple(item) for item in data.get("metadata", [])],
    )


def account_of(row: dict[str, Any]) -> Account:
    return Account(
        id=row["id"],
        tenant_id=row["tenant_id"],
        code=row["code"],
        currency=row["currency"],
        flags=AccountFlags(row["debits_must_not_exceed_credits"], row["credits_must_not_exceed_debits"]),
        balances=Balances(
            row["debits_pending"], row["debits_posted"], row["credits_pending"], row["credits_posted"]
        ),
    )


def hold_of(row: dict[str, Any]) -> Hold:
    return Hold(
        transfer_id=row["transfer_id"],
        tenant_id=row["tenant_id"],
        postings=parse_postings(row["postings"]),
        expires_at=row["expires_at"],
        status=HoldStatus(row["status"]),
        resolved_by=row["resolved_by"],
    )


def entries_of(row: dict[str, Any]) -> tuple[Entry, Entry]:
    """A journal row read as the core's two entries: its debit side, then its credit side."""
    common = {
        "transfer_id": row["transfer_id"],
        "tenant_id": row["tenant_id"],
        "currency": row["currency"],
        "bucket": Bucket(row["bucket"]),
        "amount": row["amount"],
        "created_at": row["created_at"],
    }
    return (
        Entry(account_id=row["debit_account_id"], side=Side.DEBIT, **common),
        Entry(account_id=row["credit_account_id"], side=Side.CREDIT, **common),
    )
