"""`payments demo`, the main job until the HTTP API lands, runs and ends with a balanced ledger."""

from entrypoints.cli import main


def test_the_demo_takes_a_payment_withdraws_under_four_eyes_and_balances(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "fee 125.00 KES, wallet credited 4875.00 KES" in out
    assert "refused (FOUR_EYES_VIOLATION)" in out
    assert "payout of 967.00 KES settled, fee 33.00 KES" in out
    assert "KES balanced: True; invariant problems: 0" in out
