"""Array literals come back from PostgreSQL exactly as the lists they were built from."""

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adapters.postgres.array_literals import int_array, text_array

TEXT = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12)
BIGINT = st.integers(-(2**63), 2**63 - 1)


@pytest.fixture(scope="module")
def conn(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as connection:
        yield connection


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(TEXT, max_size=8))
@example([])
@example([""])
@example(['a"b', "c\\d", "{x,y}", "NULL", " padded ", "tab\there", "é ü", '\\"'])
def test_text_arrays_round_trip(conn, items):
    assert conn.execute("SELECT %s::text[]", (text_array(items),)).fetchone()[0] == items


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(BIGINT, max_size=8))
@example([])
@example([0, -1, 2**63 - 1, -(2**63)])
def test_bigint_arrays_round_trip(conn, items):
    assert conn.execute("SELECT %s::bigint[]", (int_array(items),)).fetchone()[0] == items


def test_jsonb_arrays_of_json_texts_round_trip(conn):
    documents = ['{"id": "t\\"1", "note": "a,b {c}"}', '{"n": [1, 2]}']
    found = conn.execute("SELECT %s::jsonb[]", (text_array(documents),)).fetchone()[0]
    assert found == [{"id": 't"1', "note": "a,b {c}"}, {"n": [1, 2]}]
