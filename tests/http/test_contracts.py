"""The published HTTP contract, replayed: every example of contracts/http/seed_*.json is sent to the app
and must answer the seed's status and every field the seed's example response shows.

Invariants
- Each example runs in a fresh tenant made by its named setup recipe (tests/support/contracts.py).
- Bodies are sent as the seed wrote them: decimal numbers are read as `Decimal` and written back
  digit for digit (`1000.00` stays `1000.00`), never through a float.
- A field path names nested keys with `/` and list items by index (`payments/0/id`); a field that
  is present with a `null` value exists.
- Where the API knowingly answers otherwise than a seed's example (one error envelope for every
  seed; a placeholder token the API refuses), the entry expects what the API answers and its `note`
  says why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.support.contracts import RECIPES
from tests.support.http import BASE, error_code

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts" / "http"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
ENCODER = msgspec.json.Encoder(decimal_format="number")
MISSING = object()


def _examples() -> Iterator[Any]:
    for contract in sorted(CONTRACTS.glob("seed_*.json")):
        document = json.loads(contract.read_text(encoding="utf-8"), parse_float=Decimal)
        for example in document["examples"]:
            yield pytest.param(example, id=f"{contract.stem}:{example['name']}")


EXAMPLES = list(_examples())


def fill(value: Any, params: Mapping[str, str]) -> Any:
    """The example with its `{placeholders}` replaced by what the recipe made."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda match: params[match.group(1)], value)
    if isinstance(value, dict):
        return {key: fill(item, params) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, params) for item in value]
    return value


def at(body: Any, path: str) -> Any:
    node = body
    for segment in path.split("/"):
        if isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
            node = node[int(segment)]
        elif isinstance(node, dict) and segment in node:
            node = node[segment]
        else:
            return MISSING
    return node


def test_every_seed_has_a_contract():
    contracts = sorted(CONTRACTS.glob("seed_*.json"))
    assert [contract.stem for contract in contracts] == [f"seed_{number:03d}" for number in range(5)]
    for contract in contracts:
        document = json.loads(contract.read_text(encoding="utf-8"))
        names = [example["name"] for example in document["examples"]]
        assert len(names) == len(set(names)), f"{contract.name}: duplicate example names"
        assert all(example["setup"] in RECIPES for example in document["examples"])


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_is_answered_as_published(api, example):
    prepared = RECIPES[example["setup"]](api)
    try:
        headers = dict(prepared.tenant.headers() if prepared.headers is None else prepared.headers)
        content = prepared.content
        if content is None and "body" in example:
            content = ENCODER.encode(fill(example["body"], prepared.params))
        if content is not None:
            headers.setdefault("Content-Type", "application/json")
        response = api.client.request(
            example["method"],
            BASE + fill(example["path"], prepared.params),
            params=fill(example.get("query", {}), prepared.params),
            content=content,
            headers=headers,
        )
    finally:
        for undo in prepared.undo:
            undo()

    assert response.status_code == example["status"], response.text
    if "error_code" in example:
        assert error_code(response) == example["error_code"], response.text
    body = response.json()
    missing = [path for path in example["response_fields"] if at(body, path) is MISSING]
    assert missing == [], f"fields missing: {missing}\n{response.text}"
