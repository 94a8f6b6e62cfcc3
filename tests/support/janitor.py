"""Fakes for janitor tests: a provider whose status answers a test scripts, and the janitor's deps
for a test core on either store. Fakes, never mocks: the fake keeps what it was asked."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from adapters.memory.janitor import InMemoryJanitorStore
from adapters.memory.uow import InMemoryStore
from adapters.postgres.janitor import PostgresJanitorStore
from payments_core.money import Money
from payments_core.ports import ProviderEventType
from payments_core.ports.janitor import CheckKind, JanitorStore, PendingCheck, ProviderVerdict
from payments_core.services.janitor import JanitorDeps, JanitorSettings
from tests.support.core import Core

Answer = ProviderVerdict | BaseException | None


class FakeStatus:
    """The sandbox's status answers, scripted per provider reference: a verdict, None (no outcome
    yet) or an exception to raise. Counts questions per object and the most open at once."""

    def __init__(self, kinds: Iterable[CheckKind] = tuple(CheckKind), provider: str = "sandbox") -> None:
        self.kinds = frozenset(kinds)
        self.provider = provider
        self.answers: dict[str, Answer] = {}
        self.asked: Counter[str] = Counter()
        self.most_at_once = 0
        self.while_asked: Callable[[PendingCheck], None] | None = None  # runs while a question is open
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def says(self, reference: str, outcome: ProviderEventType | None, amount: Money | None = None) -> None:
        self.answers[reference] = None if outcome is None else ProviderVerdict(outcome, amount)

    def covers(self, kind: CheckKind) -> frozenset[str]:
        return frozenset({self.provider}) if kind in self.kinds else frozenset()

    def status(self, check: PendingCheck) -> ProviderVerdict | None:
        with self._lock:
            self.asked[check.object_id] += 1
            self._open[check.object_id] += 1
            self.most_at_once = max(self.most_at_once, self._open[check.object_id])
        try:
            if self.while_asked is not None:
                self.while_asked(check)
            answer = self.answers.get(check.reference)
            if isinstance(answer, BaseException):
                raise answer
            return answer
        finally:
            with self._lock:
                self._open[check.object_id] -= 1


def janitor_store(core: Core) -> JanitorStore:
    """The store matching the core's backend: beside the in-memory store, or on its pool."""
    if isinstance(core.store, InMemoryStore):
        return InMemoryJanitorStore(core.store)
    pool: Any = core.deps.uow.pool  # type: ignore[attr-defined]
    return PostgresJanitorStore(pool)


def janitor_deps(
    core: Core, status: FakeStatus, store: JanitorStore | None = None, **settings: Any
) -> JanitorDeps:
    """Defaults: asked after 5 min, a 5 min lease, back-off 1, 2, 4... min up to 1 h, 3 days at most."""
    return JanitorDeps(core.deps, store or janitor_store(core), status, JanitorSettings(**settings))
