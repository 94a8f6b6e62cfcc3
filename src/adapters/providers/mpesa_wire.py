"""M-Pesa's values on the wire: whole-KES amounts, phone and till numbers, Daraja's answers and items.

Pure helpers of the API calls and callback parsing in `mpesa`, which keeps the calls themselves.

Invariants
- Amounts are whole KES, as Daraja takes integers: an amount with cents or in another currency is
  refused before any call, never rounded. Amounts read back are exact KES minor units (Amount * 100):
  JSON decimals are read as `Decimal`, never as floats.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from adapters.providers.http_policy import json_object
from payments_core.errors import InvalidAmount, InvalidOperation, ProviderUnavailable, ValidationError
from payments_core.money import Money

if TYPE_CHECKING:
    import httpx

PROVIDER: Final = "mpesa"
# Kenya keeps East Africa Time all year (no daylight saving): Africa/Nairobi is UTC+3.
NAIROBI: Final = timezone(timedelta(hours=3), "EAT")
_MSISDN = re.compile(r"254[17][0-9]{8}")
_TILL = re.compile(r"[0-9]{5,7}")


def whole_kes(amount: Money) -> int:
    """The integer Daraja takes; cents, other currencies and non-positive amounts are refused."""
    if amount.currency != "KES":
        raise ValidationError("M-Pesa pays and collects in KES only", currency=amount.currency)
    if amount.minor <= 0:
        raise InvalidAmount("M-Pesa amounts must be positive")
    units, cents = divmod(amount.minor, 100)
    if cents:
        raise InvalidAmount("M-Pesa takes whole KES; this amount has cents", currency="KES", decimals=0)
    return units


def msisdn(phone: str) -> str:
    """A Kenyan mobile number as Daraja wants it: 2547XXXXXXXX (or 2541…), from 07…, +254… or 254…."""
    digits = re.sub(r"[\s\-()]", "", phone).removeprefix("+")
    if digits.startswith("0") and len(digits) == 10:
        digits = "254" + digits[1:]
    elif len(digits) == 9 and digits[:1] in {"7", "1"}:
        digits = "254" + digits
    if not _MSISDN.fullmatch(digits):
        raise ValidationError("an M-Pesa phone number is 2547XXXXXXXX", field="phone_number")
    return digits


def till_number(till: str) -> str:
    if not _TILL.fullmatch(till.strip()):
        raise ValidationError("a till number is 5 to 7 digits", field="till_number")
    return till.strip()


def json_of(response: httpx.Response) -> dict[str, Any]:
    answer = json_object(response.content)
    if answer is None:
        raise malformed()
    return answer


def malformed() -> ProviderUnavailable:
    return ProviderUnavailable("the mpesa provider gave a malformed answer", provider=PROVIDER)


def refuse_errors(response: httpx.Response, answer: Mapping[str, Any]) -> None:
    """A 4xx, or an `errorCode` answer, is Daraja's verdict on the request."""
    if response.status_code >= 400 or "errorCode" in answer:
        raise InvalidOperation(
            "the mpesa provider refused the request",
            provider=PROVIDER,
            status=response.status_code,
            errorCode=str(answer.get("errorCode", "")),
        )


def text(answer: Mapping[str, Any], field: str) -> str:
    value = answer.get(field)
    if not value:
        raise malformed()
    return str(value)


def pairs(items: Any, key: str) -> dict[str, Any]:
    """Daraja's [{Name|Key, Value}] lists (a lone item may come unwrapped) as a mapping."""
    listed = [items] if isinstance(items, dict) else list(items)
    return {str(item[key]): item["Value"] for item in listed if "Value" in item}


def kes(value: Any) -> Money:
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise ValidationError("an M-Pesa amount is a number")
    return Money.parse(value, "KES")


def nairobi_time(value: Any) -> datetime | None:
    """TransactionDate 20191219102115, Nairobi time; None when absent or malformed."""
    try:
        return datetime.strptime(str(value), "%Y%m%d%H%M%S").replace(tzinfo=NAIROBI)
    except ValueError:
        return None
