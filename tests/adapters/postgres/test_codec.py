"""The adapter's converter round-trips every aggregate exactly, and its JSON survives jsonb."""

import json

import pytest
from hypothesis import given

from adapters.postgres.codec import dump, load, to_json
from tests.adapters.postgres import aggregates
from tests.adapters.postgres.aggregates import full_samples


@pytest.mark.parametrize("sample", full_samples(), ids=lambda s: type(s).__name__)
def test_every_aggregate_round_trips(sample):
    data = dump(sample)
    assert load(type(sample), data) == sample
    assert json.loads(to_json(data)) == data, "dump gives JSON values only"


def test_the_documented_encodings():
    payment, api_key = full_samples()[2], full_samples()[7]
    data = dump(payment)
    assert data["amount"] == {"minor": 1000, "currency": "KES"}
    assert data["status"] == "partially_refunded"
    assert data["created_at"] == "2026-03-01T09:00:00+00:00"
    assert data["metadata"]["items"] == [1, 2.5, None, True, {"sku": "x"}]
    assert dump(api_key)["scopes"] == ["api_keys.manage", "payments:read", "refunds:create"]
    assert dump(full_samples()[1])["confirmed_at"] == "2026-03-02T12:30:15.123456+03:00"
    assert dump(full_samples()[1])["method_types"] == ["mpesa", "card"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e16, "10000000000000000.0"),
        (-1.5e300, f"{int(-1.5e300)}.0"),
        (1e-7, "1e-07"),
        (0.1, "0.1"),
        (2**70, str(2**70)),
        ({"a": [True, None, "é\n"]}, '{"a":[true,null,"\\u00e9\\n"]}'),
    ],
)
def test_json_text_keeps_floats_floats(value, text):
    assert to_json(value) == text
    assert json.loads(text) == value


def test_json_text_refuses_what_is_not_json():
    with pytest.raises(TypeError):
        to_json({"a": object()})


@given(aggregates.payments)
def test_payments_round_trip(payment):
    assert load(type(payment), json.loads(to_json(dump(payment)))) == payment


@given(aggregates.api_keys)
def test_api_keys_round_trip(key):
    assert load(type(key), json.loads(to_json(dump(key)))) == key


@given(aggregates.provider_configs)
def test_provider_configs_round_trip(config):
    assert load(type(config), json.loads(to_json(dump(config)))) == config
