"""Input rules shared by several use cases: phone numbers, payout destinations, URLs, slugs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

from payments_core.errors import ValidationError

_KENYAN_MSISDN: Final = re.compile(r"2547[0-9]{8}|2541[0-9]{8}")
_PHONE: Final = re.compile(r"[1-9][0-9]{7,14}")  # E.164 without the plus
_TILL: Final = re.compile(r"[0-9]{5,7}")
_ACCOUNT_NUMBER: Final = re.compile(r"[0-9]{6,20}")
_BANK_CODE: Final = re.compile(r"[0-9]{3,6}")
_SLUG: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{1,62}[a-z0-9])")


def validate_phone(value: object, field: str = "phone_number") -> str:
    """An international number without `+` or spaces, e.g. `5511966609208`, `254712345678`."""
    if not isinstance(value, str) or not _PHONE.fullmatch(value):
        raise ValidationError(f"{field} must be digits in international format", field=field)
    return value


def validate_withdrawal_details(method_type: str, details: Mapping[str, str]) -> dict[str, str]:
    """The destination a payout needs, per method (seed 002); extra keys are refused."""
    if not isinstance(details, Mapping):
        raise ValidationError("method_details must be an object", field="method_details")
    required: dict[str, re.Pattern[str] | None] = {
        "mpesa": {"phone_number": _KENYAN_MSISDN},
        "till": {"till_number": _TILL},
        "bank_transfer": {"account_number": _ACCOUNT_NUMBER, "bank_code": _BANK_CODE, "account_name": None},
    }.get(method_type, {})  # type: ignore[assignment]
    unknown = sorted(set(details) - set(required))
    if unknown:
        raise ValidationError("unexpected method_details", field="method_details", unexpected=unknown)
    clean: dict[str, str] = {}
    for key, pattern in required.items():
        value = details.get(key)
        if not isinstance(value, str) or not value.strip() or len(value) > 100:
            raise ValidationError(f"method_details.{key} is required", field=f"method_details.{key}")
        if pattern is not None and not pattern.fullmatch(value):
            raise ValidationError(f"method_details.{key} is not valid", field=f"method_details.{key}")
        clean[key] = value.strip()
    return clean


def validate_url(value: object, field: str, *, allow_http_localhost: bool = True) -> str:
    """An absolute https URL with a host (plain http only for localhost, for development)."""
    if not isinstance(value, str) or len(value) > 2048 or any(c.isspace() or ord(c) < 32 for c in value):
        raise ValidationError(f"{field} must be a URL", field=field)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValidationError(f"{field} must be a URL", field=field) from None
    host = parts.hostname or ""
    local = allow_http_localhost and parts.scheme == "http" and host in {"localhost", "127.0.0.1"}
    if (parts.scheme == "https" or local) and host and not parts.username and not parts.password:
        return value
    raise ValidationError(f"{field} must be an https URL", field=field)


def validate_mpesa_phone(value: object, field: str = "phone_number") -> str:
    """A Safaricom number in international form, e.g. `254712345678`."""
    if not isinstance(value, str) or not _KENYAN_MSISDN.fullmatch(value):
        raise ValidationError(f"{field} must be a Kenyan mobile number like 254712345678", field=field)
    return value


def validate_slug(value: object) -> str:
    if not isinstance(value, str) or not _SLUG.fullmatch(value):
        raise ValidationError("slug must be 3 to 64 lowercase letters, digits or dashes", field="slug")
    return value
