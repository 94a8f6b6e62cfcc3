"""A statement held in memory: the lines a test or an embedding service already has at hand."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from payments_core.model.reconciliation import StagedLine
from payments_core.ports.statements import StatementLine, staged_line


class InMemoryStatement:
    """A `StatementSource` over lines given up front, streamed in line-number order."""

    def __init__(self, lines: Iterable[StatementLine]) -> None:
        self._lines = sorted(lines, key=lambda line: line.line_number)

    def lines(self) -> Iterator[StatementLine]:
        return iter(self._lines)

    def staged(self) -> Iterator[StagedLine]:
        return (staged_line(line) for line in self._lines)
