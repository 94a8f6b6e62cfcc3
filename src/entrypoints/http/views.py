"""Small renderings shared by the controllers: times, amounts in the units each seed speaks."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import msgspec

from payments_core.errors import InvalidAmount, ValidationError
from payments_core.money import Money


def iso(moment: datetime | None) -> str | None:
    """`2025-01-15T10:30:00Z`: UTC, as the seeds print times."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str | None, parameter: str) -> datetime | None:
    """An ISO 8601 query parameter with a zone (`Z` accepted); 400 for anything else."""
    if text is None or text == "":
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"{parameter} must be an ISO 8601 time", field=parameter, parameter=parameter
        ) from None
    if moment.utcoffset() is None:
        raise ValidationError(f"{parameter} must carry a time zone", field=parameter, parameter=parameter)
    return moment


def major(money: Money) -> msgspec.Raw:
    """Decimal major units (seeds 001 and 002): `1000.00` KES, written as an exact JSON number
    (msgspec would write a Decimal as a string, and a float is never exact)."""
    return number(money.to_decimal())


def number(value: Decimal | int) -> msgspec.Raw:
    """An exact JSON number from a Decimal or an int."""
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError("not a finite number")
    return msgspec.Raw(format(value, "f").encode())


def minor(money: Money) -> int:
    """Integer minor units (seeds 003 and 004): `9900` for 99.00."""
    return money.minor


def parse_major(value: Decimal | str, currency: str, field: str = "amount") -> Money:
    """Exact decimal major units (seeds 001 and 002) to Money; the core refuses what it would have
    to round and what is out of range. The refusal names the field it came from."""
    try:
        return Money.parse(value, currency)
    except InvalidAmount as refused:
        raise InvalidAmount(refused.message, **{**refused.details, "field": field}) from None
