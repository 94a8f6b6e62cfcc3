"""The in-memory statement source streams its lines in statement order."""

from datetime import UTC, datetime

from adapters.memory.statements import InMemoryStatement
from payments_core.money import Money
from payments_core.ports import StatementLine, StatementLineType


def line(number: int, external_id: str) -> StatementLine:
    gross, fee = Money(10_000, "KES"), Money(250, "KES")
    return StatementLine(
        number,
        "mpesa",
        external_id,
        StatementLineType.CHARGE,
        gross,
        fee,
        gross - fee,
        datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_lines_come_in_line_number_order_and_can_be_read_again():
    statement = InMemoryStatement([line(3, "c"), line(1, "a"), line(2, "b")])
    assert [entry.external_id for entry in statement.lines()] == ["a", "b", "c"]
    assert [entry.line_number for entry in statement.lines()] == [1, 2, 3]
