"""`payments reconcile` as an operator runs it: reports, exit codes, re-runs and bad files."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from entrypoints.cli import main
from entrypoints.composition import postgres_core
from entrypoints.reconcile_start import fingerprint_soon
from payments_core.money import Money
from payments_core.policies import Principal, Scope

HEADER = "provider,external_id,type,gross,fee,net,currency,occurred_at,reference\n"
ALL_SCOPES = frozenset(scope.value for scope in Scope)


def major(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


@pytest.fixture
def shop(monkeypatch, pg_url):
    """A fresh tenant with three sandbox payments paid through the hosted checkout's event path."""
    monkeypatch.setenv("DATABASE_URL", pg_url)
    tenant_id = f"shop{uuid.uuid4().hex[:8]}"
    with postgres_core() as (core, sandbox):
        core.tenants.create_tenant(tenant_id, "Shop", "KES")
        alice = Principal.user(tenant_id, "alice", ALL_SCOPES, datetime.now(UTC), livemode=False)
        payments = []
        for amount in ("100.00", "250.50", "999.99"):
            session = core.checkout.create_session(alice, Money.parse(amount, "KES"), f"order-{amount}")
            sandbox.complete_checkout(session.provider_reference)
            payments.append(core.payments.get_payment(alice, session.payment_id))
    return tenant_id, payments


def statement(path: Path, payments, extra: str = "") -> Path:
    rows = [HEADER]
    for payment in payments:
        at = payment.created_at.isoformat()
        gross, fee = payment.amount.minor, payment.fee.minor
        rows.append(
            f"sandbox,{payment.provider_reference},charge,{major(gross)},{major(fee)},{major(gross - fee)},"
            f"KES,{at},{payment.id}\n"
        )
    path.write_text("".join(rows) + extra, encoding="utf-8")
    return path


def reconcile(path: Path, tenant_id: str, *options: str) -> list[str]:
    return [
        "reconcile", "--provider", "generic", "--as-provider", "sandbox", "--statement", str(path),
        "--tenant", tenant_id, *options,
    ]  # fmt: skip


def test_a_clean_statement_exits_0_with_a_summary(shop, tmp_path, capsys):
    tenant_id, payments = shop
    path = statement(tmp_path / "clean.csv", payments)
    assert main(reconcile(path, tenant_id, "--cutoff-hours", "0")) == 0
    out = capsys.readouterr().out
    assert "matched" in out and "open breaks" in out


def test_on_a_terminal_a_progress_bar_counts_the_statements_lines(shop, tmp_path, capsys, monkeypatch):
    tenant_id, payments = shop
    path = statement(tmp_path / "clean.csv", payments)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("TTY_INTERACTIVE", "1")
    assert main(reconcile(path, tenant_id, "--cutoff-hours", "0")) == 0
    drawn = capsys.readouterr().err
    assert "staging" in drawn and f"{len(payments)}/{len(payments)}" in drawn
    monkeypatch.delenv("TTY_COMPATIBLE")
    monkeypatch.delenv("TTY_INTERACTIVE")
    assert main(reconcile(path, tenant_id, "--cutoff-hours", "0")) == 0
    assert "staging" not in capsys.readouterr().err


def test_breaks_exit_1_and_the_json_report_proves_them(shop, tmp_path, capsys):
    tenant_id, payments = shop
    at = (payments[-1].created_at + timedelta(seconds=3)).isoformat()
    unknown = f"sandbox,sbx_nobody,charge,12.00,0.00,12.00,KES,{at},\n"
    path = statement(tmp_path / "breaks.csv", payments[:2], unknown)
    assert main(reconcile(path, tenant_id, "--format", "json", "--cutoff-hours", "0")) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["replayed"] is False
    assert report["run"]["counts"]["missing_in_ledger"] == 1
    assert report["run"]["counts"]["missing_in_statement"] == 1
    assert report["run"]["matched"] == 2
    kinds = {b["kind"]: b for b in report["breaks"]}
    assert kinds["missing_in_ledger"]["line"]["externalId"] == "sbx_nobody"
    assert kinds["missing_in_ledger"]["difference"] == 1200
    assert kinds["missing_in_statement"]["record"]["id"] == payments[2].id


def test_a_payout_the_lines_name_is_checked_against_them(shop, tmp_path, capsys):
    """A generic file with the optional `payout_id` column: one payout settles the three charges."""
    tenant_id, payments = shop
    rows = [HEADER.replace("\n", ",payout_id\n")]
    for payment in payments:
        gross, fee = payment.amount.minor, payment.fee.minor
        rows.append(
            f"sandbox,{payment.provider_reference},charge,{major(gross)},{major(fee)},{major(gross - fee)},"
            f"KES,{payment.created_at.isoformat()},{payment.id},po_1\n"
        )
    settled = sum(p.amount.minor - p.fee.minor for p in payments)
    at = (payments[-1].created_at + timedelta(seconds=5)).isoformat()
    payout = "sandbox,po_1,payout,{0},0.00,{0},KES,{1},,\n"
    clean = tmp_path / "clean.csv"
    clean.write_text("".join(rows) + payout.format(major(-settled), at), encoding="utf-8")
    assert main(reconcile(clean, tenant_id, "--format", "json", "--cutoff-hours", "0")) == 0
    assert json.loads(capsys.readouterr().out)["run"]["matched"] == 4
    short = tmp_path / "short.csv"
    short.write_text("".join(rows) + payout.format(major(-settled + 250), at), encoding="utf-8")
    assert main(reconcile(short, tenant_id, "--format", "json", "--cutoff-hours", "0")) == 1
    report = json.loads(capsys.readouterr().out)
    assert [(b["kind"], b["difference"], b["record"]) for b in report["breaks"]] == [
        ("amount_mismatch", 250, None)
    ]
    assert report["breaks"][0]["line"]["settles"] == {"lines": 3, "net": settled}


def test_the_same_statement_again_changes_nothing_and_says_so(shop, tmp_path, capsys):
    tenant_id, payments = shop
    path = statement(tmp_path / "again.csv", payments[:1])
    first = main(reconcile(path, tenant_id, "--format", "json"))
    first_run = json.loads(capsys.readouterr().out)["run"]["id"]
    assert main(reconcile(path, tenant_id, "--format", "json")) == first
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["replayed"] is True and report["run"]["id"] == first_run
    assert "reconciled already" in captured.err


def test_the_csv_report_lists_every_break_with_its_line(shop, tmp_path, capsys):
    tenant_id, payments = shop
    at = (payments[-1].created_at + timedelta(seconds=3)).isoformat()
    extra = f"sandbox,sbx_ghost_1,charge,1.00,0.00,1.00,KES,{at},\nsandbox,sbx_ghost_2,charge,2.00,0.00,2.00,KES,{at},\n"
    path = statement(tmp_path / "report.csv", payments, extra)
    out_file = tmp_path / "breaks.csv"
    code = main(reconcile(path, tenant_id, "--format", "csv", "--out", str(out_file), "--cutoff-hours", "0"))
    assert code == 1
    rows = list(csv.DictReader(io.StringIO(out_file.read_text())))
    assert [(r["kind"], r["line_number"], r["external_id"]) for r in rows] == [
        ("missing_in_ledger", "5", "sbx_ghost_1"),
        ("missing_in_ledger", "6", "sbx_ghost_2"),
    ]


@pytest.mark.parametrize(
    ("bad_row", "line", "words"),
    [
        ("sandbox,sbx_x,charge,1.001,0.00,1.001,KES,2026-01-01T00:00:00+00:00,\n", 5, "decimal"),
        ("sandbox,sbx_x,charge,1.00,0.00,1.00,XXX,2026-01-01T00:00:00+00:00,\n", 5, "currency"),
        ("sandbox,sbx_x,charge,1.00,0.00\n", 5, "columns"),
        ("sandbox,sbx_x,charge,1.00,0.00,1.00,KES,2026-01-01T00:00:00+00:00,", 5, "truncated"),
    ],
)
def test_a_bad_file_exits_2_naming_the_line_and_writes_nothing(shop, tmp_path, capsys, bad_row, line, words):
    tenant_id, payments = shop
    path = statement(tmp_path / "bad.csv", payments, bad_row)
    assert main(reconcile(path, tenant_id)) == 2
    err = capsys.readouterr().err
    assert f"line {line}" in err and words in err.lower() and "nothing was written" in err
    good = statement(tmp_path / "good.csv", payments)
    assert main(reconcile(good, tenant_id, "--format", "json")) in (0, 1)
    assert json.loads(capsys.readouterr().out)["replayed"] is False  # the bad run left no trace


def test_bad_arguments_exit_2(shop, tmp_path, capsys):
    tenant_id, payments = shop
    path = statement(tmp_path / "ok.csv", payments)
    assert main(reconcile(tmp_path / "missing.csv", tenant_id)) == 2
    assert main(reconcile(path, "no-such-tenant")) == 2
    assert main(reconcile(path, tenant_id, "--window-hours", "-1")) == 2
    err = capsys.readouterr().err
    assert "No such file" in err and "no tenant" in err


def test_the_digest_read_on_a_thread_is_the_files_and_its_errors_come_with_it(tmp_path):
    body = b"header\n" + b"".join(b"line %d,\xc3\xa9\n" % n for n in range(300_000))
    path = tmp_path / "statement.csv"
    path.write_bytes(body)
    assert fingerprint_soon(path)() == (hashlib.sha256(body).hexdigest(), 300_000)
    assert fingerprint_soon(path, lines=lambda: False)() == (hashlib.sha256(body).hexdigest(), None)
    with pytest.raises(FileNotFoundError):
        fingerprint_soon(tmp_path / "missing.csv")()


STRIPE_HEADER = "balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category,source_id,payment_intent_id\n"


@pytest.mark.parametrize(
    ("bad_row", "words"),
    [
        ("txn_9,2026-01-01 00:00:00,kes,1.001,0.00,1.001,charge,,pi_9\n", "decimal"),
        ("txn_9,2026-01-01 00:00:00,xxx,1.00,0.00,1.00,charge,,pi_9\n", "currency"),
        ("txn_9,2026-01-01 00:00:00,kes,1.00,0.00\n", "columns"),
        ("txn_9,2026-01-01 00:00:00,kes,1.00,0.00,1.00,charge,,pi_9", "truncated"),
    ],
)
@pytest.mark.parametrize("halves", [False, True], ids=["one part", "two halves at once"])
def test_a_bad_stripe_report_exits_2_naming_the_line_and_writes_nothing(
    shop, tmp_path, capsys, monkeypatch, pg_url, bad_row, words, halves
):
    """The Stripe report is converted by the database itself; a bad row still names its line.
    In two halves (a big file's way, forced here for a small one), the good report's duplicates
    span both, and no side schema outlives the runs."""
    if halves:
        monkeypatch.setattr("adapters.statements.plain.HALVES_FROM", 1)
    tenant_id, _ = shop
    good = "txn_1,2026-01-01 00:00:00,kes,100.00,2.00,98.00,charge,,pi_1\n"
    path = tmp_path / "stripe.csv"
    path.write_text(STRIPE_HEADER + good * 3 + bad_row, encoding="utf-8")
    command = ["reconcile", "--provider", "stripe", "--statement", str(path), "--tenant", tenant_id]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "line 5" in err and words in err.lower() and "nothing was written" in err
    path.write_text(STRIPE_HEADER + good * 3, encoding="utf-8")
    assert main([*command, "--format", "json", "--cutoff-hours", "0"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["replayed"] is False and report["run"]["lines"] == 3
    assert report["run"]["counts"]["duplicate_in_statement"] == 2
    assert sorted(b["line"]["lineNumber"] for b in report["breaks"] if b["line"]) == [2, 3, 4]
    with psycopg.connect(pg_url) as conn:
        left = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'recon\\_%'").fetchone()
    assert left == (0,)


def test_a_report_piped_into_a_reader_that_leaves_ends_quietly_and_the_run_stands(shop, tmp_path):
    """`payments reconcile --format json | head -1`: the report's pipe closes under it."""
    tenant_id, payments = shop
    path = statement(tmp_path / "piped.csv", payments)
    command = [
        sys.executable,
        "-c",
        "import sys; from entrypoints.cli import main; sys.exit(main(sys.argv[1:]))",
    ]
    child = subprocess.Popen(
        [*command, *reconcile(path, tenant_id, "--format", "json", "--cutoff-hours", "0")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # the reader is gone before the report is written
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=120) == 141
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    with postgres_core() as (core, _):
        auditor = Principal.user(tenant_id, "auditor", ALL_SCOPES, datetime.now(UTC), livemode=False)
        assert [run.lines for run in core.reconciliation.list_runs(auditor)] == [3]
