"""`payments janitor` and the janitor beside `payments worker`, as an operator runs them; the loop
that `payments serve` and `payments worker` run in a thread keeps going after a failed pass."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from entrypoints.cli import main
from entrypoints.composition import postgres_core
from entrypoints.worker import run_janitor
from payments_core.money import Money
from payments_core.policies import Principal, Scope
from payments_core.services.janitor import SweepReport
from payments_core.states import CheckoutSessionStatus

ALL_SCOPES = frozenset(scope.value for scope in Scope)


@pytest.fixture
def overdue_session(monkeypatch, pg_url):
    """A sandbox checkout whose expiry passed an hour ago, still pending: (tenant, session id)."""
    monkeypatch.setenv("DATABASE_URL", pg_url)
    tenant_id = f"shop{uuid.uuid4().hex[:8]}"
    with postgres_core() as (core, _):
        core.tenants.create_tenant(tenant_id, "Shop", "KES")
        alice = Principal.user(tenant_id, "alice", ALL_SCOPES, datetime.now(UTC), livemode=False)
        session = core.checkout.create_session(alice, Money.parse("10.00", "KES"), "order-1")
        with core.deps.uow() as uow:
            stored = uow.sessions.get(tenant_id, session.id)
            uow.sessions.update(attrs.evolve(stored, expires_at=datetime.now(UTC) - timedelta(hours=1)))
            uow.commit()
    return tenant_id, session.id


def session_status(tenant_id: str, session_id: str) -> CheckoutSessionStatus:
    with postgres_core() as (core, _), core.deps.uow() as uow:
        return uow.sessions.get(tenant_id, session_id).status


def test_one_janitor_sweep_prints_its_counts_and_expires_what_is_overdue(overdue_session, capsys):
    assert main(["janitor", "--once"]) == 0

    counts = json.loads(capsys.readouterr().out)
    assert counts["expired"] >= 1 and counts["caught_up"] is True
    assert set(counts) == {"claimed", "applied", "unsettled", "unanswered", "expired", "caught_up"}
    assert session_status(*overdue_session) is CheckoutSessionStatus.EXPIRED


def test_one_worker_pass_sweeps_as_the_janitor_too(overdue_session):
    assert main(["worker", "--once"]) == 0
    assert session_status(*overdue_session) is CheckoutSessionStatus.EXPIRED


def test_a_worker_pass_without_the_janitor_leaves_the_session_alone(overdue_session):
    assert main(["worker", "--once", "--janitor-interval", "0"]) == 0
    assert session_status(*overdue_session) is CheckoutSessionStatus.PENDING


def test_a_batch_out_of_range_is_refused_with_its_code(overdue_session, capsys):
    assert main(["janitor", "--once", "--batch", "0"]) == 1
    assert capsys.readouterr().err.startswith("INVALID_PARAMETER")
    assert session_status(*overdue_session) is CheckoutSessionStatus.PENDING


class FlakyJanitor:
    """Fails its first sweep as a crash would, then reports caught up; stops the loop at the third."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.sweeps: list[int] = []

    def sweep(self, batch: int) -> SweepReport:
        self.sweeps.append(batch)
        if len(self.sweeps) == 1:
            raise RuntimeError("a crash mid-pass")
        if len(self.sweeps) == 3:
            self.stop.set()
        return SweepReport(claimed=1)


def test_the_janitor_loop_goes_on_after_a_failed_pass_until_stopped():
    stop = threading.Event()
    flaky = FlakyJanitor(stop)
    thread = threading.Thread(target=run_janitor, args=(flaky, stop, 0.01, 7))
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert flaky.sweeps == [7, 7, 7]
