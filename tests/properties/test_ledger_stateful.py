"""Random sequences of transfers, holds, posts, voids, expiries and re-submissions.

A small reference model (plain integers, written independently of the engine) predicts every
answer: which requests the ledger must accept, which it must refuse and why, and every balance.
After each step the ledger's own invariants are checked too:
- per currency, total debits equal total credits, posted and pending;
- every account's four balances equal the fold of its entries;
- no flagged account ever breaks its flag;
- a hold resolves at most once; a re-submission never posts twice.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import assume, note
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from adapters.memory.clock import ManualClock
from adapters.memory.ledger import InMemoryLedgerStore
from payments_core.errors import (
    CreditsExceedDebits,
    DomainError,
    IdempotencyConflict,
    InsufficientFunds,
    PendingTransferAlreadyResolved,
    PendingTransferExpired,
)
from payments_core.ledger import Account, AccountFlags, Posting, TransferRequest, problems
from payments_core.money import Money
from payments_core.states import HoldStatus
from tests.support.ledger import T0

TENANT = "t1"
ACCOUNTS = {
    "kes-wallet": ("KES", AccountFlags(debits_must_not_exceed_credits=True)),
    "kes-clearing": ("KES", AccountFlags()),
    "kes-fees": ("KES", AccountFlags()),
    "kes-limited": ("KES", AccountFlags(credits_must_not_exceed_debits=True)),
    "usd-wallet": ("USD", AccountFlags(debits_must_not_exceed_credits=True)),
    "usd-external": ("USD", AccountFlags()),
}
FIELDS = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")

pairs = st.sampled_from(
    [(d, c) for d in ACCOUNTS for c in ACCOUNTS if d != c and ACCOUNTS[d][0] == ACCOUNTS[c][0]]
)
amounts = st.integers(min_value=1, max_value=5_000)


def postings_from(legs):
    return [Posting(d, c, Money(a, ACCOUNTS[d][0])) for d, c, a in legs]


class LedgerMachine(RuleBasedStateMachine):
    requests = Bundle("requests")
    holds = Bundle("holds")

    def __init__(self):
        super().__init__()
        self.clock = ManualClock(T0)
        self.store = self.build_store(self.clock)
        self.store.open_accounts(
            [Account(i, TENANT, "test", cur, flags) for i, (cur, flags) in ACCOUNTS.items()]
        )
        self.model = {i: dict.fromkeys(FIELDS, 0) for i in ACCOUNTS}
        self.model_holds: dict[str, dict] = {}
        self.accepted: dict[str, object] = {}
        self.counter = 0

    def build_store(self, clock):
        return InMemoryLedgerStore(clock)

    # --- the reference model -------------------------------------------------------------

    def next_id(self, prefix):
        self.counter += 1
        return f"{prefix}-{self.counter}"

    def predict(self, moves):
        """Balances after `moves` (account, field, delta), and the error the ledger must raise."""
        after = {i: dict(b) for i, b in self.model.items()}
        for account_id, field, delta in moves:
            after[account_id][field] += delta
        for account_id in sorted({m[0] for m in moves}):
            b, flags = after[account_id], ACCOUNTS[account_id][1]
            if (
                flags.debits_must_not_exceed_credits
                and b["debits_posted"] + b["debits_pending"] > b["credits_posted"]
            ):
                return after, InsufficientFunds
            if (
                flags.credits_must_not_exceed_debits
                and b["credits_posted"] + b["credits_pending"] > b["debits_posted"]
            ):
                return after, CreditsExceedDebits
        return after, None

    @staticmethod
    def moves_for(legs, bucket, sign=1):
        for d, c, a in legs:
            yield (d, f"debits_{bucket}", sign * a)
            yield (c, f"credits_{bucket}", sign * a)

    def submit_expecting(self, request, moves):
        after, error = self.predict(list(moves))
        entries_before = len(self.store.entries(TENANT))
        if error is None:
            self.store.submit(request)
            self.model = after
            self.accepted[request.id] = request
            return True
        try:
            self.store.submit(request)
        except error:
            assert len(self.store.entries(TENANT)) == entries_before
            return False
        raise AssertionError(f"the ledger accepted what the model refuses with {error.__name__}")

    # --- rules ---------------------------------------------------------------------------

    @rule(target=requests, legs=st.lists(st.tuples(pairs, amounts), min_size=1, max_size=3))
    def transfer(self, legs):
        flat = [(d, c, a) for (d, c), a in legs]
        request = TransferRequest.posted(self.next_id("tr"), TENANT, "test", postings_from(flat))
        self.submit_expecting(request, self.moves_for(flat, "posted"))
        return request

    @rule(
        target=holds,
        legs=st.lists(st.tuples(pairs, amounts), min_size=1, max_size=3, unique_by=lambda leg: leg[0]),
        expires_in=st.one_of(st.none(), st.integers(min_value=1, max_value=120)),
    )
    def hold(self, legs, expires_in):
        flat = [(d, c, a) for (d, c), a in legs]
        expires_at = None if expires_in is None else self.clock.now() + timedelta(minutes=expires_in)
        request = TransferRequest.pending(
            self.next_id("hold"), TENANT, "test", postings_from(flat), expires_at=expires_at
        )
        if self.submit_expecting(request, self.moves_for(flat, "pending")):
            self.model_holds[request.id] = {"legs": flat, "expires_at": expires_at, "status": "pending"}
            return request.id
        return "refused-hold"

    def resolve_error(self, hold_id):
        hold = self.model_holds.get(hold_id)
        if hold is None:
            return None, None
        if hold["status"] != "pending":
            return hold, PendingTransferAlreadyResolved
        if hold["expires_at"] is not None and self.clock.now() >= hold["expires_at"]:
            return hold, PendingTransferExpired
        return hold, None

    @rule(hold_id=holds, fractions=st.lists(st.integers(0, 100), min_size=3, max_size=3), full=st.booleans())
    def post(self, hold_id, fractions, full):
        hold, error = self.resolve_error(hold_id)
        assume(hold is not None)
        posted = (
            hold["legs"]
            if full
            else [(d, c, a * f // 100) for (d, c, a), f in zip(hold["legs"], fractions, strict=False)]
        )
        posted = [leg for leg in posted if leg[2] > 0]
        if not posted:  # a post that names no pair posts the hold in full
            full, posted = True, hold["legs"]
        request = TransferRequest.post_pending(
            self.next_id("post"), TENANT, "test", hold_id, [] if full else postings_from(posted)
        )
        if error is not None:
            self.expect_refusal(request, error)
            return
        moves = [*self.moves_for(hold["legs"], "pending", -1), *self.moves_for(posted, "posted")]
        assert self.submit_expecting(request, moves), "posting a hold never breaks a flag"
        hold["status"] = "posted"

    @rule(hold_id=holds)
    def void(self, hold_id):
        hold, error = self.resolve_error(hold_id)
        assume(hold is not None)
        request = TransferRequest.void_pending(self.next_id("void"), TENANT, "test", hold_id)
        if error is not None:
            self.expect_refusal(request, error)
            return
        assert self.submit_expecting(request, self.moves_for(hold["legs"], "pending", -1))
        hold["status"] = "voided"

    def expect_refusal(self, request, error):
        entries_before = len(self.store.entries(TENANT))
        try:
            self.store.submit(request)
        except error:
            assert len(self.store.entries(TENANT)) == entries_before
            return
        raise AssertionError(f"expected {error.__name__}")

    @rule(minutes=st.integers(min_value=1, max_value=90))
    def time_passes(self, minutes):
        self.clock.advance(timedelta(minutes=minutes))

    @rule()
    def expire(self):
        now = self.clock.now()
        due = sorted(
            i
            for i, h in self.model_holds.items()
            if h["status"] == "pending" and h["expires_at"] is not None and now >= h["expires_at"]
        )
        released = self.store.expire_holds()
        assert sorted(t.request.pending_id for t in released) == due
        for hold_id in due:
            self.model = self.predict(self.moves_for(self.model_holds[hold_id]["legs"], "pending", -1))[0]
            self.model_holds[hold_id]["status"] = "expired"

    @rule(request=requests)
    def resubmit(self, request):
        assume(request.id in self.accepted)
        entries_before = len(self.store.entries(TENANT))
        first = self.store.transfer(TENANT, request.id)
        assert self.store.submit(request) == first
        assert len(self.store.entries(TENANT)) == entries_before

    @rule(request=requests, extra=amounts)
    def reuse_id_with_other_content(self, request, extra):
        assume(request.id in self.accepted)
        d, c = request.postings[0].pair
        changed = TransferRequest.posted(request.id, TENANT, "test", postings_from([(d, c, extra + 10_000)]))
        entries_before = len(self.store.entries(TENANT))
        try:
            self.store.submit(changed)
        except IdempotencyConflict:
            assert len(self.store.entries(TENANT)) == entries_before
            return
        raise AssertionError("a changed request under a used id must conflict")

    @rule(legs=st.lists(st.tuples(pairs, amounts), min_size=1, max_size=4))
    def batch(self, legs):
        requests = [
            TransferRequest.posted(self.next_id("batch"), TENANT, "test", postings_from([(d, c, a)]))
            for (d, c), a in legs
        ]
        moves = [m for (d, c), a in legs for m in self.moves_for([(d, c, a)], "posted")]
        after, error = self.predict(moves)
        # A batch succeeds as a whole iff every prefix keeps the flags; check the prefixes.
        for n in range(1, len(legs) + 1):
            prefix = [m for (d, c), a in legs[:n] for m in self.moves_for([(d, c, a)], "posted")]
            error = error or self.predict(prefix)[1]
        entries_before = len(self.store.entries(TENANT))
        if error is None:
            self.store.submit_many(requests)
            self.model = after
            self.accepted.update({r.id: r for r in requests})
        else:
            try:
                self.store.submit_many(requests)
            except DomainError:
                assert len(self.store.entries(TENANT)) == entries_before
                return
            raise AssertionError("a batch with a refused transfer must apply nothing")

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def balances_match_the_model(self):
        for account in self.store.accounts(TENANT):
            actual = {f: getattr(account, f) for f in FIELDS}
            assert actual == self.model[account.id], (account.id, actual, self.model[account.id])

    @invariant()
    def ledger_is_sound(self):
        found = problems(self.store.accounts(TENANT), self.store.entries(TENANT))
        note(str(found))
        assert found == []

    @precondition(lambda self: self.model_holds)
    @invariant()
    def holds_resolve_once_and_agree_with_the_model(self):
        for hold_id, hold in self.model_holds.items():
            assert self.store.hold(TENANT, hold_id).status is HoldStatus(hold["status"])
        resolutions = [t for t in self.accepted.values() if getattr(t, "pending_id", None) is not None]
        resolved = [r.pending_id for r in resolutions]
        assert len(resolved) == len(set(resolved))


TestLedgerStateful = LedgerMachine.TestCase
