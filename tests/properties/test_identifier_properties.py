"""Identifiers: printable, no whitespace of any kind, 1 to 128 characters."""

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from payments_core.errors import ValidationError
from payments_core.ledger.accounts import MAX_ID_LENGTH, check_identifier


def acceptable(value: str) -> bool:
    """The rule as written in words, one character at a time."""
    return 0 < len(value) <= MAX_ID_LENGTH and all(ch.isprintable() and not ch.isspace() for ch in value)


@given(st.text(max_size=MAX_ID_LENGTH + 2))
@example("tenant0001/wallet/KES")
@example("a b")
@example("a\u00a0b")  # no-break space
@example("a\u2028b")  # line separator
@example("a\u3000b")  # ideographic space
@example("a\tb")
@example("")
@example("x" * MAX_ID_LENGTH)
@example("x" * (MAX_ID_LENGTH + 1))
def test_an_identifier_is_accepted_exactly_when_the_rule_says_so(value):
    if acceptable(value):
        check_identifier("id", value)
    else:
        with pytest.raises(ValidationError):
            check_identifier("id", value)


def test_every_whitespace_character_is_refused():
    whitespace = [chr(code) for code in range(0x110000) if chr(code).isspace()]
    assert len(whitespace) > 20
    for ch in whitespace:
        with pytest.raises(ValidationError):
            check_identifier("id", f"a{ch}b")
