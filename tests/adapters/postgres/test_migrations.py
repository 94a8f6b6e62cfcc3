"""Migrations apply once, in order, under a lock; the schema keeps the journal append-only."""

import threading

import psycopg
import pytest

from adapters.postgres.migrate import available, migrate
from tests.support.postgres import fresh_database


def test_migrations_are_numbered_in_order():
    versions = [m.version for m in available()]
    assert versions == sorted(versions) == list(range(1, len(versions) + 1))


def test_rerunning_migrations_applies_nothing(pg_url):
    assert migrate(pg_url) == []
    with psycopg.connect(pg_url) as conn:
        recorded = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert [v for (v,) in recorded] == [m.version for m in available()]


def test_concurrent_migrators_serialise_and_agree(pg_server):
    with fresh_database(pg_server, "concurrent") as url:
        results = []
        threads = [threading.Thread(target=lambda: results.append(migrate(url))) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(len(r) for r in results) == [0, 0, 0, 0]  # fresh_database applied them all


def test_the_journal_refuses_updates_deletes_and_truncation(pg_url):
    with psycopg.connect(pg_url) as conn:
        conn.execute("SELECT set_config('app.tenant_id', 't1', false)")
        conn.execute(
            "INSERT INTO accounts (tenant_id, id, code, currency) VALUES ('t1', 'a', 'x', 'KES'), ('t1', 'b', 'x', 'KES')"
        )
        conn.execute(
            "SELECT ledger_submit(%s::jsonb, now())",
            (
                '{"id": "x1", "tenant_id": "t1", "kind": "k", "mode": "posted", "pending_id": null, '
                '"expires_at": null, "metadata": [], '
                '"postings": [{"debit": "a", "credit": "b", "amount": 5, "currency": "KES"}]}',
            ),
        )
        conn.commit()
        for statement in ("UPDATE journal SET amount = 1", "DELETE FROM transfers", "TRUNCATE journal"):
            with pytest.raises(psycopg.errors.RaiseException, match="APPEND_ONLY"):
                conn.execute(statement)
            conn.rollback()
        assert conn.execute("SELECT count(*) FROM journal").fetchone() == (1,)


def test_a_journal_row_cannot_name_an_account_of_another_currency_or_the_same_account_twice(pg_url):
    with psycopg.connect(pg_url) as conn:
        conn.execute("SELECT set_config('app.tenant_id', 't1', false)")
        conn.execute(
            "INSERT INTO accounts (tenant_id, id, code, currency) VALUES ('t1', 'k', 'x', 'KES'), ('t1', 'u', 'x', 'USD')"
        )
        conn.execute(
            "INSERT INTO transfers (tenant_id, id, kind, mode, request, postings, created_at) "
            "VALUES ('t1', 'bad', 'k', 'posted', '{}', '[]', now())"
        )
        conn.commit()
        row = (
            "INSERT INTO journal (tenant_id, transfer_id, debit_account_id, credit_account_id, currency, bucket, "
            "amount, created_at) VALUES ('t1', 'bad', %s, %s, 'KES', 'posted', 5, now())"
        )
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(row, ("k", "u"))
        conn.rollback()
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(row, ("k", "nowhere"))
        conn.rollback()
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(row, ("k", "k"))
        conn.rollback()


def test_a_journal_row_cannot_name_a_transfer_that_does_not_exist(pg_url):
    with psycopg.connect(pg_url) as conn:
        conn.execute("SELECT set_config('app.tenant_id', 't2', false)")
        conn.execute(
            "INSERT INTO accounts (tenant_id, id, code, currency) VALUES ('t2', 'a', 'x', 'KES'), ('t2', 'b', 'x', 'KES')"
        )
        conn.execute(
            "INSERT INTO transfers (tenant_id, id, kind, mode, request, postings, created_at) "
            "VALUES ('t2', 'real', 'k', 'posted', '{}', '[]', now())"
        )
        conn.commit()
        rows = (
            "INSERT INTO journal (tenant_id, transfer_id, debit_account_id, credit_account_id, currency, bucket, "
            "amount, created_at) VALUES ('t2', 'real', 'a', 'b', 'KES', 'posted', 5, now()), "
            "('t2', %s, 'a', 'b', 'KES', 'posted', 5, now())"
        )
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="transfer that does not exist"):
            conn.execute(rows, ("ghost",))
        conn.rollback()
        conn.execute(rows, ("real",))
        conn.commit()
        assert conn.execute("SELECT count(*) FROM journal WHERE tenant_id = 't2'").fetchone() == (2,)


def test_accounts_keep_their_identity_and_are_never_deleted(pg_url):
    with psycopg.connect(pg_url) as conn:
        conn.execute("SELECT set_config('app.tenant_id', 't9', false)")
        conn.execute("INSERT INTO accounts (tenant_id, id, code, currency) VALUES ('t9', 'keep', 'x', 'KES')")
        conn.commit()
        for statement in (
            "UPDATE accounts SET currency = 'USD' WHERE id = 'keep'",
            "UPDATE accounts SET id = 'other' WHERE id = 'keep'",
            "DELETE FROM accounts WHERE id = 'keep'",
            "TRUNCATE accounts CASCADE",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="APPEND_ONLY"):
                conn.execute(statement)
            conn.rollback()
        conn.execute("UPDATE accounts SET credits_posted = 5 WHERE id = 'keep'")  # balances do move
        conn.rollback()
