"""MercadoPago's values on the wire: JSON bodies with exact amounts, ids, idempotency keys, refusals.

The API calls (`mercadopago`) and the notification check (`mercadopago_events`) share these.

Invariants
- Amounts cross the wire in major units rendered exactly from `Money` (1050 BRL minor is the JSON
  number `10.50`): the request body is written by `encode`, never by a float. Answers are read with
  `Decimal` and converted back by `Money.parse`, which refuses (never rounds) extra decimals.
- Another 4xx is MercadoPago's verdict, mapped to a domain error (400/422 `ValidationError`, 404
  `NotFound`, other `InvalidOperation`); only its error name and cause codes travel in `details`,
  never its message or our request.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from payments_core.errors import (
    DomainError,
    InvalidOperation,
    NotFound,
    ProviderUnavailable,
    ValidationError,
)
from payments_core.money import Money

if TYPE_CHECKING:
    import httpx

NAME: Final = "mercadopago"
_SEGMENT: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")


def encode(value: Any) -> str:
    """JSON in which a `Money` is its exact major-unit number (`10.50`); a float is refused."""
    if isinstance(value, Money):
        return value.to_major_string()
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(encode(item) for item in value) + "]"
    if isinstance(value, float):
        raise TypeError("a float never crosses the wire")
    return json.dumps(value, ensure_ascii=False)


def loads(raw: bytes, malformed: Callable[[], DomainError] | None = None) -> Any:
    try:
        return json.loads(raw, parse_float=Decimal)
    except ValueError:
        if malformed is not None:
            raise malformed() from None
        raise ValidationError("malformed MercadoPago notification", provider=NAME) from None


def malformed() -> DomainError:
    return ProviderUnavailable(
        "the mercadopago provider answered something unexpected", provider=NAME, reason="malformed answer"
    )


def refusal(response: httpx.Response, what: str) -> DomainError:
    """A domain error for a 4xx, carrying MercadoPago's error name and cause codes only."""
    try:
        payload = json.loads(response.content)
    except ValueError:
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    causes = [str(c.get("code")) for c in payload.get("cause") or () if isinstance(c, dict) and "code" in c]
    details: dict[str, Any] = {"provider": NAME, "status": response.status_code, "causes": causes}
    if isinstance(payload.get("error"), str):
        details["error"] = payload["error"][:64]
    status = response.status_code
    if status == 404:
        return NotFound(f"mercadopago has no such {what}", resource=what, **details)
    if status in {401, 403}:
        return credentials_refused("the mercadopago provider refused the credentials")
    if status in {400, 422}:
        return ValidationError(f"mercadopago refused the {what}", **details)
    return InvalidOperation(f"mercadopago refused the {what}", **details)


def credentials_refused(message: str) -> DomainError:
    """Like the other adapters: nothing moved, the operation waits for the tenant's configuration."""
    return ProviderUnavailable(message, provider=NAME, reason="credentials")


def idempotency_key(key: str) -> str:
    """1-64 plain characters, as MercadoPago requires; any other id is replaced by its digest."""
    return key if _SEGMENT.fullmatch(key) else hashlib.sha256(key.encode()).hexdigest()


def segment(value: str, field: str) -> str:
    if not isinstance(value, str) or not _SEGMENT.fullmatch(value):
        raise ValidationError(f"{field} is not a MercadoPago id", field=field)
    return value


def text(payload: Mapping[str, Any], field: str) -> str:
    value = payload.get(field) if isinstance(payload, Mapping) else None
    if value is None or isinstance(value, bool) or str(value) == "":
        raise malformed()
    return str(value)


def money(value: object, currency: str) -> Money:
    if not isinstance(value, int | Decimal) or isinstance(value, bool):
        raise malformed()
    return Money.parse(value, currency)


def header(headers: Mapping[str, str], name: str) -> str:
    return next((str(v).strip() for k, v in headers.items() if k.lower() == name), "")
