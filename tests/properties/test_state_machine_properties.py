"""Random walks over every state machine: whatever is attempted, the lifecycle stays in the table.

Properties
- A walk never leaves the machine's enum, and only visits states reachable from `initial`.
- A refused attempt raises `InvalidTransition` naming the current state, and changes nothing.
- Once terminal, every further attempt is refused.
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from payments_core.errors import InvalidTransition
from payments_core.states import ALL_MACHINES, StateMachine


def reachable_from_initial(machine: StateMachine[Any]) -> set[StrEnum]:
    """Breadth-first over the raw table, independent of the machine's own methods."""
    seen: set[StrEnum] = {machine.initial}
    queue: deque[StrEnum] = deque([machine.initial])
    while queue:
        for target in machine.transitions.get(queue.popleft(), frozenset()):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def attempt(machine: StateMachine[Any], current: StrEnum, target: StrEnum) -> StrEnum:
    """Apply one attempted move; check the refusal contract when it is refused."""
    try:
        moved: StrEnum = machine.require(current, target)
    except InvalidTransition as refused:
        assert refused.details["currentStatus"] == current.value
        assert target not in machine.transitions.get(current, frozenset())
        return current
    return moved


@pytest.mark.parametrize("machine", ALL_MACHINES, ids=lambda m: m.name)
@given(data=st.data())
def test_a_random_walk_stays_inside_the_reachable_states(
    machine: StateMachine[Any], data: st.DataObject
) -> None:
    states = sorted(machine.states())
    reachable = reachable_from_initial(machine)
    targets = data.draw(st.lists(st.sampled_from(states), max_size=30), label="attempts")
    state = machine.initial
    for target in targets:
        was_terminal = machine.is_terminal(state)
        allowed = machine.can(state, target)
        after = attempt(machine, state, target)
        assert type(after) is type(machine.initial)
        assert after in reachable
        if allowed:
            assert after is target
        else:
            assert after is state
        if was_terminal:
            assert not allowed
            assert after is state
        state = after


@pytest.mark.parametrize("machine", ALL_MACHINES, ids=lambda m: m.name)
@given(data=st.data())
def test_a_terminal_state_refuses_every_attempt(machine: StateMachine[Any], data: st.DataObject) -> None:
    terminal = sorted(state for state in machine.states() if machine.is_terminal(state))
    state = data.draw(st.sampled_from(terminal), label="terminal")
    target = data.draw(st.sampled_from(sorted(machine.states())), label="target")
    with pytest.raises(InvalidTransition):
        machine.require(state, target)


class LifecycleWalk(RuleBasedStateMachine):
    """One object's lifecycle under any machine, driven by arbitrary attempted moves."""

    def __init__(self) -> None:
        super().__init__()
        self.machine: StateMachine[Any] = ALL_MACHINES[0]
        self.state: StrEnum = self.machine.initial
        self.reachable: set[StrEnum] = set()
        self.visited: list[StrEnum] = []

    @initialize(machine=st.sampled_from(ALL_MACHINES))
    def start(self, machine: StateMachine[Any]) -> None:
        self.machine = machine
        self.state = machine.initial
        self.reachable = reachable_from_initial(machine)
        self.visited = [machine.initial]

    @rule(data=st.data())
    def try_a_move(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(sorted(self.machine.states())), label="target")
        before = self.state
        was_terminal = self.machine.is_terminal(before)
        self.state = attempt(self.machine, before, target)
        if was_terminal:
            assert self.state is before
        self.visited.append(self.state)

    @rule(data=st.data())
    def try_an_allowed_move(self, data: st.DataObject) -> None:
        allowed = sorted(self.machine.allowed(self.state))
        if not allowed:
            return
        target = data.draw(st.sampled_from(allowed), label="allowed target")
        self.state = self.machine.require(self.state, target)
        assert self.state is target
        self.visited.append(self.state)

    @invariant()
    def state_belongs_to_the_enum(self) -> None:
        assert self.state in self.machine.states()
        assert type(self.state) is type(self.machine.initial)

    @invariant()
    def every_visited_state_is_reachable(self) -> None:
        assert set(self.visited) <= self.reachable

    @invariant()
    def consecutive_states_follow_the_table(self) -> None:
        for before, after in zip(self.visited, self.visited[1:], strict=False):
            assert after is before or after in self.machine.transitions.get(before, frozenset())


TestLifecycleWalk = LifecycleWalk.TestCase
