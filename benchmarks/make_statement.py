"""Write a provider statement from the database's payments, with planted breaks in known numbers.

    .venv/bin/python benchmarks/make_statement.py --tenant demo --format generic --provider sandbox \\
        --out statement.csv [--breaks 5] [--seed 1]

Every completed payment of the tenant and provider becomes one charge line (its provider
reference, our payment id as the reference, its amount and fee), in time order, one to two
seconds after the payment. Then, for each break kind, `--breaks` payments are planted:

    amount_mismatch        the gross is off by 1.37
    fee_mismatch           the provider kept 0.01 more than our ledger booked
    currency_mismatch      written in another currency (formats with one currency cannot: 0)
    status_mismatch        a pending payment written as settled
    duplicate_in_statement a charge written twice
    missing_in_ledger      a charge nobody knows (0.01, 0.02, ...: no payment of ours is that small)
    missing_in_statement   a payment left out (older than the cut-off before the last line)

A Stripe report is paid out as Stripe pays: each line names the automatic payout that settles it
(`automatic_payout_id`: one payout per currency and day its money becomes available, two days on),
and each payout is a line of its own, written last, that settles exactly the lines naming it (a
duplicate counted once): clean, so it plants nothing.

The planted counts (what `payments reconcile` must find, nothing more) are printed as JSON on
stdout. Reads DATABASE_URL, else the embedded server in .payments/pgdata. Memory stays flat: the
payments stream from a server-side cursor into the writer.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from adapters.postgres.server import open_database
from adapters.statements.writers import PlannedLine, open_writer
from payments_core.ports import StatementLineType

KINDS = (
    "amount_mismatch", "fee_mismatch", "currency_mismatch", "status_mismatch",
    "duplicate_in_statement", "missing_in_ledger", "missing_in_statement",
)  # fmt: skip
SINGLE_CURRENCY_FORMATS = frozenset({"mpesa", "mercadopago"})
CUTOFF = timedelta(hours=1)
PAYMENTS = """
SELECT id, status, provider_reference, (doc->'amount'->>'minor')::bigint, doc->'amount'->>'currency',
       coalesce((doc->'fee'->>'minor')::bigint, 0), created_at
FROM payments
WHERE tenant_id = %s AND provider = %s AND status IN ('completed', 'pending')
ORDER BY created_at, id
"""


def plan(
    conn: psycopg.Connection[Any], tenant: str, provider: str, breaks: int, fmt: str, rng: random.Random
) -> tuple[dict[str, set[int]], int]:
    """Which completed payments (by position in time order) carry which planted break."""
    row = conn.execute(
        """WITH mine AS (SELECT status, created_at FROM payments
                         WHERE tenant_id = %s AND provider = %s AND status IN ('completed', 'pending'))
           SELECT count(*) FILTER (WHERE status = 'completed'),
                  count(*) FILTER (WHERE status = 'completed'
                                   AND created_at <= (SELECT max(created_at) FROM mine) - %s)
           FROM mine""",
        (tenant, provider, 2 * CUTOFF),
    ).fetchone()
    completed, settled_early = row if row is not None else (0, 0)
    kinds = [k for k in KINDS if k not in ("status_mismatch", "missing_in_ledger")]
    if fmt in SINGLE_CURRENCY_FORMATS:
        kinds.remove("currency_mismatch")
    # Planted payments come from after the first few and from before the last two cut-offs: an
    # omitted one is then inside the statement's period and older than the cut-off before its end.
    # With too few such payments (a fresh demo tenant), fewer are planted; the counts printed say so.
    per_kind = min(breaks, max(0, int(settled_early) - 5) // len(kinds))
    if per_kind < breaks:
        print(
            f"{settled_early} payments older than {2 * CUTOFF}: planting {per_kind} (not {breaks}) of the"
            " breaks that need one",
            file=sys.stderr,
        )
    wanted = per_kind * len(kinds)
    chosen = rng.sample(range(5, int(settled_early)), wanted)
    positions = {kind: set(chosen[i * per_kind : (i + 1) * per_kind]) for i, kind in enumerate(kinds)}
    return positions, int(completed)


def other_currency(currency: str) -> str:
    return "USD" if currency != "USD" else "EUR"


class AutomaticPayouts:
    """Stripe's automatic payouts: a line's money is paid out with its currency's others of the day
    it becomes available (two days on); a payout's line settles the sum of their nets. Disabled for
    the formats that name no payout: no line names one, and no payout line is written."""

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled
        self._settled: dict[str, tuple[datetime, str, int]] = {}  # payout id -> (when, currency, net)

    def settle(self, at: datetime, currency: str, net: int) -> str | None:
        """The payout that pays this line's `net` out."""
        if not self._enabled:
            return None
        day = at.astimezone(UTC).date() + timedelta(days=2)
        payout_id = f"po_1Q{day:%Y%m%d}{currency}AutoPayout"
        when, _, total = self._settled.get(payout_id) or (datetime.combine(day, time(), UTC), currency, 0)
        self._settled[payout_id] = (when, currency, total + net)
        return payout_id

    def lines(self) -> Iterator[PlannedLine]:
        payout = StatementLineType.PAYOUT
        for payout_id, (when, currency, net) in self._settled.items():
            yield PlannedLine(payout, payout_id, None, -net, 0, currency, when, payout_id)


def write(
    conn: psycopg.Connection[Any],
    args: argparse.Namespace,
    positions: dict[str, set[int]],
    rng: random.Random,
    out: Any,
) -> Counter[str]:
    planted: Counter[str] = Counter()
    options: dict[str, str] = {"currency": args.currency} if args.currency else {}
    if args.format == "generic":
        options["provider"] = args.provider  # the generic format names the provider on every row
    writer = open_writer(args.format, out, **options)
    payouts = AutomaticPayouts(args.format == "stripe")
    charge = StatementLineType.CHARGE
    position = 0
    last: datetime | None = None
    with conn.cursor(name="payments_stream") as cursor:
        cursor.itersize = 10_000
        cursor.execute(PAYMENTS, (args.tenant, args.provider))
        for payment_id, status, reference, amount, currency, fee, created in cursor:
            # Whole seconds: Stripe's and M-Pesa's reports carry no fraction of a second.
            at = (created + timedelta(milliseconds=rng.randint(1000, 2000))).replace(microsecond=0)
            last = at
            if status == "pending":
                if planted["status_mismatch"] < args.breaks:
                    payout_id = payouts.settle(at, currency, amount - fee)
                    writer.write(
                        PlannedLine(
                            charge, reference or payment_id, payment_id, amount, fee, currency, at, payout_id
                        )
                    )
                    planted["status_mismatch"] += 1
                continue
            gross, kept, written_currency, copies = amount, fee, currency, 1
            if position in positions.get("missing_in_statement", ()):
                planted["missing_in_statement"] += 1
                position += 1
                continue
            if position in positions.get("amount_mismatch", ()):
                gross += 137
                planted["amount_mismatch"] += 1
            elif position in positions.get("fee_mismatch", ()):
                kept += 1
                planted["fee_mismatch"] += 1
            elif position in positions.get("currency_mismatch", ()):
                written_currency = other_currency(currency)
                planted["currency_mismatch"] += 1
            elif position in positions.get("duplicate_in_statement", ()):
                copies = 2
                planted["duplicate_in_statement"] += 1
            external_id = reference or payment_id  # no provider id: matched by our reference
            payout_id = payouts.settle(at, written_currency, gross - kept)  # a duplicate is paid once
            for _ in range(copies):
                writer.write(
                    PlannedLine(charge, external_id, payment_id, gross, kept, written_currency, at, payout_id)
                )
            position += 1
        if last is None:
            raise SystemExit("no payments to write a statement from")
        for number in range(args.breaks):
            at = last + timedelta(seconds=number + 1)
            unknown_currency = args.currency or currency
            writer.write(
                PlannedLine(charge, f"ext_unknown_{rng.getrandbits(48):012x}", None, 1 + number, 0,
                            unknown_currency, at, payouts.settle(at, unknown_currency, 1 + number))
            )  # fmt: skip
            planted["missing_in_ledger"] += 1
    for payout in payouts.lines():
        writer.write(payout)
    writer.close()
    return planted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tenant", required=True)
    parser.add_argument(
        "--format", required=True, choices=("stripe", "mercadopago", "mpesa", "paystack", "generic")
    )
    parser.add_argument("--provider", help="whose payments (default: the format's provider)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--breaks", type=int, default=5, help="planted breaks of each kind")
    parser.add_argument("--currency", help="the file's currency, for one-currency formats")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", help="default: DATABASE_URL, else the embedded server")
    args = parser.parse_args(argv)
    args.provider = args.provider or args.format
    rng = random.Random(args.seed)
    database = None if args.database_url else open_database()
    url = args.database_url or (database.url if database else "")
    try:
        with psycopg.connect(url) as conn:
            conn.execute("SELECT set_config('app.tenant_id', %s, false)", (args.tenant,))
            positions, completed = plan(conn, args.tenant, args.provider, args.breaks, args.format, rng)
            with args.out.open("w", encoding="utf-8", newline="") as out:
                planted = write(conn, args, positions, rng, out)
    finally:
        if database is not None and database.server is not None:
            database.server.cleanup()
    expected = {kind: planted.get(kind, 0) for kind in KINDS}
    print(json.dumps({"statement": str(args.out), "completed_payments": completed, "planted": expected}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
