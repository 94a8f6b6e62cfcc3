"""`payments demo` walks a payment and a four-eyes withdrawal through the core and balances."""

import pytest

from entrypoints.cli import main


def check(out: str) -> None:
    assert "fee 125.00 KES, wallet credited 4875.00 KES" in out
    assert "available now 3875.00 KES" in out
    assert "refused (FOUR_EYES_VIOLATION)" in out
    assert "payout of 967.00 KES completed, fee 33.00 KES" in out
    assert "ledger balanced, every fold agrees: True" in out


def test_the_demo_in_memory(capsys):
    assert main(["demo", "--memory"]) == 0
    check(capsys.readouterr().out)


def test_the_demo_on_postgresql(capsys, monkeypatch, pg_url):
    monkeypatch.setenv("DATABASE_URL", pg_url)
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "on PostgreSQL" in out
    check(out)


def test_migrate_reports_an_up_to_date_database(capsys, monkeypatch, pg_url):
    monkeypatch.setenv("DATABASE_URL", pg_url)
    assert main(["migrate"]) == 0
    assert "none (up to date)" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [[], ["nonsense"]])
def test_unknown_commands_are_refused(argv):
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 2
