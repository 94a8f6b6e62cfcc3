"""The embedded server is tuned to the machine it runs on."""

from __future__ import annotations

import time

import psycopg
import pytest

from adapters.postgres.server import parallel_workers


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
