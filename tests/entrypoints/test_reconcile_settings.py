"""The sessions `payments reconcile` works in: their own settings, given once as each connection opens."""

from __future__ import annotations

import psycopg
import pytest

from adapters.postgres.pool import make_pool
from entrypoints.cli import main
from entrypoints.config import DEFAULT_RECON_TEMP_BUFFERS, reconcile_session_settings


def test_the_batch_keeps_its_temporary_tables_in_memory_by_default():
    assert reconcile_session_settings({}) == {"temp_buffers": DEFAULT_RECON_TEMP_BUFFERS}
    assert reconcile_session_settings({"PAYMENTS_RECON_TEMP_BUFFERS": " 2GB "}) == {"temp_buffers": "2GB"}
    assert reconcile_session_settings({"PAYMENTS_RECON_TEMP_BUFFERS": "0"}) == {}


@pytest.mark.parametrize("size", ["lots", "-1MB", "512", "512mb", "0MB", "1TB", "1000000MB", "1; DROP"])
def test_a_size_postgresql_would_refuse_is_refused_before_connecting(size):
    with pytest.raises(ValueError, match="PAYMENTS_RECON_TEMP_BUFFERS"):
        reconcile_session_settings({"PAYMENTS_RECON_TEMP_BUFFERS": size})


def test_the_cli_answers_a_bad_size_as_bad_input(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("PAYMENTS_RECON_TEMP_BUFFERS", "lots")
    path = tmp_path / "statement.csv"
    path.write_text("provider,external_id,type,gross,fee,net,currency,occurred_at\n", encoding="utf-8")
    code = main(["reconcile", "--provider", "generic", "--statement", str(path)])
    assert code == 2
    assert "PAYMENTS_RECON_TEMP_BUFFERS" in capsys.readouterr().err


def test_every_connection_of_the_pool_takes_the_settings_and_stays_the_app_role(pg_url):
    pool = make_pool(pg_url, min_size=2, max_size=2, session_settings={"temp_buffers": "64MB"})
    try:
        with pool.connection() as first, pool.connection() as second:
            for conn in (first, second):
                row = conn.execute("SELECT current_setting('temp_buffers'), current_user").fetchone()
                assert row == ("64MB", "payments_app")
    finally:
        pool.close()


def test_without_settings_a_session_has_the_server_default(pg_url):
    with psycopg.connect(pg_url) as plain:
        default = plain.execute("SELECT current_setting('temp_buffers')").fetchone()
    pool = make_pool(pg_url, min_size=1, max_size=1)
    try:
        with pool.connection() as conn:
            assert conn.execute("SELECT current_setting('temp_buffers')").fetchone() == default
    finally:
        pool.close()
