"""The embedded server is tuned to the machine it runs on: its parallel workers, and the shared
memory it keeps for parallel queries."""

from __future__ import annotations

import os
import time

import psycopg
import pytest

from adapters.postgres.server import parallel_query_memory_mb, parallel_workers, start_embedded


@pytest.mark.parametrize(("cores", "workers"), [(1, 0), (2, 1), (3, 2), (4, 2), (64, 2)], ids=str)
def test_a_parallel_query_takes_one_worker_fewer_than_the_cores_and_at_most_two(cores, workers):
    assert parallel_workers(cores) == workers


def test_the_embedded_server_runs_with_this_machines_workers(pg_server):
    if not pg_server.embedded:
        pytest.skip("DATABASE_URL's server is tuned by whoever runs it, not by us")
    wanted = str(parallel_workers())
    deadline = time.monotonic() + 5
    while True:  # a reload is applied by the server shortly after it is asked for
        with psycopg.connect(pg_server.url) as conn:
            row = conn.execute("SHOW max_parallel_workers_per_gather").fetchone()
        if row == (wanted,) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert row == (wanted,)


@pytest.mark.parametrize(
    ("memory_gb", "kept_mb"), [(1, 64), (2, 128), (8, 512), (16, 1024), (24, 1024), (512, 1024)], ids=str
)
def test_parallel_queries_keep_a_sixteenth_of_the_memory_and_at_most_a_gigabyte(memory_gb, kept_mb):
    assert parallel_query_memory_mb(memory_gb * 2**30) == kept_mb


def running(url: str, name: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT setting FROM pg_settings WHERE name = %s", (name,)).fetchone()
    assert row is not None
    return str(row[0])


def test_the_embedded_server_keeps_memory_for_parallel_queries_from_its_start(pg_server):
    if not pg_server.embedded:
        pytest.skip("DATABASE_URL's server is tuned by whoever runs it, not by us")
    assert running(pg_server.url, "min_dynamic_shared_memory") == str(parallel_query_memory_mb())


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="starts servers of its own")
def test_a_server_that_ran_without_the_memory_takes_it_at_its_next_start(tmp_path):
    """A server this process creates is started again at once; one that ran before is not
    restarted under whoever else may hold it, and takes the setting when it next starts."""
    data = tmp_path / "pgdata"
    wanted = str(parallel_query_memory_mb())
    created = start_embedded(data)
    assert running(created.url, "min_dynamic_shared_memory") == wanted
    with psycopg.connect(created.url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM RESET min_dynamic_shared_memory")
    created.server.cleanup()

    without = start_embedded(data)
    assert running(without.url, "min_dynamic_shared_memory") == "0"
    without.server.cleanup()

    again = start_embedded(data)
    try:
        assert running(again.url, "min_dynamic_shared_memory") == wanted
    finally:
        again.server.cleanup()
