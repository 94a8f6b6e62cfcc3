"""Field rules shared by the aggregates: bounded text, aware times, frozen JSON-like metadata."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

import attrs

from payments_core.errors import ValidationError

MAX_REASON_LENGTH: Final = 500
MAX_METADATA_BYTES: Final = 8_192


def text(
    field: str, max_length: int, *, optional: bool = False, min_length: int = 1
) -> Callable[[object, attrs.Attribute[Any], object], None]:
    """A validator for a string of bounded length (None allowed when optional)."""

    def check(_: object, __: attrs.Attribute[Any], value: object) -> None:
        if value is None and optional:
            return
        if not isinstance(value, str) or not min_length <= len(value) <= max_length:
            raise ValidationError(
                f"{field} must be a string of {min_length} to {max_length} characters",
                field=field,
                maxLength=max_length,
            )
        if any(ch in value for ch in "\x00"):
            raise ValidationError(f"{field} contains a NUL character", field=field)

    return check


def check_text(field: str, value: object, max_length: int, *, optional: bool = False) -> None:
    text(field, max_length, optional=optional)(None, None, value)  # type: ignore[arg-type]


def aware(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValidationError(f"{attribute.name} must be a timezone-aware time", field=attribute.name)


def freeze_metadata(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """Metadata is small JSON: string keys, JSON values, at most 8 KiB once encoded."""
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValidationError("metadata must be an object with string keys", field="metadata")
    try:
        encoded = json.dumps(dict(value), allow_nan=False, sort_keys=True)
    except (TypeError, ValueError):
        raise ValidationError("metadata must hold JSON values only", field="metadata") from None
    if len(encoded.encode()) > MAX_METADATA_BYTES:
        raise ValidationError("metadata is too large", field="metadata", maxBytes=MAX_METADATA_BYTES)
    return MappingProxyType(json.loads(encoded))


def freeze_strings(value: Mapping[str, str] | None) -> Mapping[str, str]:
    """Small string-to-string details (a phone number, a till, a bank account)."""
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise ValidationError("details must be an object", field="details")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str) or len(key) > 64 or len(item) > 256:
            raise ValidationError("details are short strings", field="details")
    return MappingProxyType(dict(value))


MAX_SEALED_LENGTH: Final = 16_384


def freeze_sealed(value: Mapping[str, str] | None) -> Mapping[str, str]:
    """Sealed secrets by name: ciphertexts run long (an RSA-wrapped credential is ~700 chars)."""
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= MAX_SEALED_LENGTH
        for k, v in value.items()
    ):
        raise ValidationError("sealed secrets are named strings", field="secrets")
    return MappingProxyType(dict(value))
