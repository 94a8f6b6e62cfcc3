"""The one converter between the aggregates and their `doc` jsonb column.

Invariants
- `load(type(x), dump(x)) == x` for every aggregate (tested for each, and as a property).
- `dump` returns JSON values only: Money is `{"minor", "currency"}`, a datetime an ISO 8601 string
  with its offset, a StrEnum its value, a mapping a dict, a tuple a list, a frozenset a sorted list.
- `to_json` writes numbers so that jsonb gives them back unchanged: jsonb keeps a number's
  decimal scale but not its float-ness, so a float jsonb would print without a decimal point
  (1e16 and beyond) is written as an exact integer with `.0`, and reads back as that float.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar, get_origin

import cattrs

from payments_core.money import Money

T = TypeVar("T")


def _is_enum(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, Enum)


def _is_frozenset(kind: Any) -> bool:
    return kind is frozenset or get_origin(kind) is frozenset


_converter = cattrs.Converter()
_converter.register_unstructure_hook(Money, lambda money: {"minor": money.minor, "currency": money.currency})
_converter.register_structure_hook(Money, lambda data, _: Money(data["minor"], data["currency"]))
_converter.register_unstructure_hook(datetime, lambda moment: moment.isoformat())
_converter.register_structure_hook(datetime, lambda text, _: datetime.fromisoformat(text))
_converter.register_unstructure_hook_func(_is_enum, lambda member: member.value)
_converter.register_unstructure_hook_func(_is_frozenset, sorted)


def dump(aggregate: object) -> dict[str, Any]:
    """The aggregate as JSON values."""
    data: dict[str, Any] = _converter.unstructure(aggregate)
    return data


def load(kind: type[T], data: Mapping[str, Any]) -> T:
    """The aggregate `dump` wrote (its validators run again)."""
    return _converter.structure(data, kind)


def to_json(value: Any) -> str:
    """JSON text for a jsonb parameter; see the module's invariants for floats."""
    if value is None or isinstance(value, bool | str):
        return json.dumps(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        text = repr(value)
        return f"{int(value)}.0" if "e" in text and abs(value) >= 1 else text
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json(item) for item in value) + "]"
    raise TypeError(f"{type(value).__name__} is not a JSON value")
