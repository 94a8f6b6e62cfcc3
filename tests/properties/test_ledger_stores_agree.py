"""The in-memory and the PostgreSQL ledger stores, driven by the same random commands, agree.

Every command of the ledger's stateful test (transfers, holds, partial posts, voids, expiries,
re-submissions, conflicting re-use of ids, batches) goes to both stores; each answer must be
identical: the same transfer, or the same error with the same code and details. After every
step both stores hold identical accounts, holds and journals, and the reference model agrees.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis.stateful import run_state_machine_as_test

from adapters.memory.ledger import InMemoryLedgerStore
from adapters.postgres.ledger import PooledLedgerStore
from adapters.postgres.pool import make_pool
from payments_core.errors import DomainError
from tests.properties import test_ledger_stateful as stateful

# Details that legitimately differ in wording between the stores; everything else must match.
_OVERFLOW = "BALANCE_OVERFLOW"


class MirroredStore:
    """Calls both stores with the same arguments and insists on the same outcome."""

    def __init__(self, memory, postgres) -> None:
        self.memory = memory
        self.postgres = postgres

    def __getattr__(self, name):
        def both(*args, **kwargs):
            outcomes = []
            for store in (self.memory, self.postgres):
                try:
                    outcomes.append(("ok", getattr(store, name)(*args, **kwargs)))
                except DomainError as error:
                    outcomes.append(("error", error))
            (kind_a, a), (kind_b, b) = outcomes
            if name == "expire_holds" and kind_b == "ok":
                # One database serves every example, one tenant each; the sweep is global.
                b = [t for t in b if t.tenant_id == stateful.TENANT]
            assert kind_a == kind_b, f"{name}: memory {kind_a} {a!r}, postgres {kind_b} {b!r}"
            if kind_a == "error":
                assert (type(a), a.code) == (type(b), b.code), f"{name}: {a!r} != {b!r}"
                if a.code != _OVERFLOW:
                    assert dict(a.details) == dict(b.details), f"{name}: {a!r} != {b!r}"
                raise a
            assert a == b, f"{name}: memory {a!r} != postgres {b!r}"
            return a

        return both


_tenants = itertools.count(1)


@pytest.fixture
def postgres_pool(pg_url):
    pool = make_pool(pg_url, max_size=2)
    yield pool
    pool.close()


def test_memory_and_postgres_answer_every_command_identically(postgres_pool, monkeypatch):
    class TwoStores(stateful.LedgerMachine):
        def __init__(self):
            monkeypatch.setattr(stateful, "TENANT", f"agree{next(_tenants)}")
            super().__init__()

        def build_store(self, clock):
            return MirroredStore(InMemoryLedgerStore(clock), PooledLedgerStore(postgres_pool, clock))

    run_state_machine_as_test(TwoStores, settings=stateful.LedgerMachine.TestCase.settings)
