"""The one error every statement parser raises for a malformed file, with the line that proves it."""

from __future__ import annotations

from payments_core.errors import ValidationError


class StatementError(ValidationError):
    """A statement row (or the file around it) that cannot be read; never skipped, never guessed.

    `line_number` is the 1-based physical line of the file where the offending row starts (the
    header is line 1), so an operator can open the file at that line.
    """

    code = "INVALID_STATEMENT"

    def __init__(self, line_number: int, message: str) -> None:
        super().__init__(f"line {line_number}: {message}", line=line_number, reason=message)
        self.line_number = line_number
        self.reason = message
