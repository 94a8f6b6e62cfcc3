"""Each provider's sample statement parses to exactly the lines a person reading it would write down."""

from datetime import datetime
from pathlib import Path

import pytest

from adapters.statements import (
    GenericStatement,
    MercadoPagoStatement,
    MpesaColumns,
    MpesaStatement,
    PaystackStatement,
    StatementError,
    StripeStatement,
    open_statement,
)
from payments_core import matching
from payments_core.errors import ValidationError
from payments_core.model.reconciliation import MatchRules
from payments_core.money import Money
from payments_core.ports import StatementLine, StatementLineType
from payments_core.ports.statements import staged_line

SAMPLES = Path(__file__).parents[3] / "contracts" / "providers" / "statements"
C, R, P, F, A = (
    StatementLineType.CHARGE,
    StatementLineType.REFUND,
    StatementLineType.PAYOUT,
    StatementLineType.FEE,
    StatementLineType.ADJUSTMENT,
)


def line(number, provider, external_id, kind, gross, fee, net, currency, at, reference=None, payout_id=None):
    return StatementLine(
        number,
        provider,
        external_id,
        kind,
        Money(gross, currency),
        Money(fee, currency),
        Money(net, currency),
        datetime.fromisoformat(at),
        reference,
        payout_id,
    )


def test_stripe_itemized_payout_reconciliation_report():
    parsed = list(StripeStatement(SAMPLES / "stripe_itemized_payout_reconciliation.csv").lines())
    po = "po_1QbZ9yX8wV7u"
    assert parsed == [
        line(2, "stripe", "pi_3PqA1bC2dE3fG4h0", C, 12000, 378, 11622, "USD", "2026-01-15T09:12:44+00:00", "order-1001", po),
        line(3, "stripe", "pi_3PqB5iJ6kL7mN8o1", C, 4999, 175, 4824, "USD", "2026-01-15T11:40:03+00:00", "order-1002", po),
        line(4, "stripe", "re_3PqC9pQ0rS1tU2v3", R, -2000, 0, -2000, "USD", "2026-01-16T08:02:59+00:00", "order-1001", po),
        line(5, "stripe", "dp_1QbA2cD3eF4gH5i6", A, -1500, 0, -1500, "USD", "2026-01-16T23:59:59+00:00", None, po),
        line(6, "stripe", "txn_1QbJ7kL8mN9oP0q1", F, -200, 0, -200, "USD", "2026-01-17T00:00:01+00:00", None, po),
        line(7, "stripe", po, P, -12746, 0, -12746, "USD", "2026-01-17T06:30:00+00:00", None, po),
    ]  # fmt: skip
    assert sum(entry.net.minor for entry in parsed if entry.type is not P) == 12746, (
        "the payout settles them all"
    )
    assert all(entry.occurred_at.utcoffset() is not None for entry in parsed)


def test_mercadopago_release_report_skips_only_its_summary_rows():
    parsed = list(MercadoPagoStatement(SAMPLES / "mercadopago_release_report.csv", currency="BRL").lines())
    assert parsed == [
        line(3, "mercadopago", "1320458812", C, 10000, 499, 9501, "BRL", "2026-01-15T10:21:07-03:00", "pedido-2001"),
        line(4, "mercadopago", "1320460455", C, 25050, 1436, 23614, "BRL", "2026-01-15T17:45:30-03:00", "pedido-2002"),
        line(5, "mercadopago", "1320458812", R, -10000, -499, -9501, "BRL", "2026-01-16T09:03:11-03:00", "pedido-2001"),
        line(6, "mercadopago", "74412", P, -100000, 0, -100000, "BRL", "2026-01-16T12:00:00-03:00"),
    ]  # fmt: skip


def test_mpesa_organisation_statement_with_the_default_mapping():
    parsed = list(MpesaStatement(SAMPLES / "mpesa_organisation_statement.csv").lines())
    assert parsed == [
        line(2, "mpesa", "SAF1A2B3C4", C, 100000, 0, 100000, "KES", "2026-01-15T08:14:02+03:00"),
        line(3, "mpesa", "SAF1A2B3C5", C, 25000, 0, 25000, "KES", "2026-01-15T09:30:41+03:00"),
        line(5, "mpesa", "SAF1A2B3C7", P, -500000, 0, -500000, "KES", "2026-01-15T12:45:00+03:00"),
        line(6, "mpesa", "SAF1A2B3C8", F, -3300, 0, -3300, "KES", "2026-01-15T12:45:00+03:00"),
        line(7, "mpesa", "SAF1A2B3C9", R, -25000, 0, -25000, "KES", "2026-01-15T16:20:15+03:00"),
    ]  # fmt: skip


def test_mpesa_mapping_names_other_columns_formats_and_a_reference(tmp_path):
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(
        "Receipt,Time,Narrative,State,Credit,Debit,Account\n"
        "RCP1,15/01/2026 08:14,Pay Bill Online,Completed,1000.00,,INV1\n"
        "RCP2,15/01/2026 09:00,Salary Payment,Completed,,1200.50,\n"
    )
    columns = MpesaColumns(
        receipt="Receipt",
        completed_at="Time",
        details="Narrative",
        status="State",
        paid_in="Credit",
        withdrawn="Debit",
        reference="Account",
        time_format="%d/%m/%Y %H:%M",
    )
    assert list(MpesaStatement(renamed, columns=columns).lines()) == [
        line(2, "mpesa", "RCP1", C, 100000, 0, 100000, "KES", "2026-01-15T08:14:00+03:00", "INV1"),
        line(3, "mpesa", "RCP2", P, -120050, 0, -120050, "KES", "2026-01-15T09:00:00+03:00"),
    ]  # fmt: skip


def test_paystack_export_signs_by_type_and_skips_abandoned_transactions():
    parsed = list(PaystackStatement(SAMPLES / "paystack_transactions.csv").lines())
    assert parsed == [
        line(2, "paystack", "3521987001", C, 1500000, 32500, 1467500, "NGN", "2026-01-15T09:00:12+00:00", "ord_5001"),
        line(4, "paystack", "3521987003", C, 250050, 3751, 246299, "NGN", "2026-01-15T14:33:47+00:00", "ord_5003"),
        line(5, "paystack", "3521987004", R, -500000, 0, -500000, "NGN", "2026-01-16T10:00:00+00:00", "rfd_ord_5001"),
        line(6, "paystack", "9012001", P, -1217500, 0, -1217500, "NGN", "2026-01-16T15:00:00+00:00", "stl_20260116"),
    ]  # fmt: skip


def test_paystack_export_in_subunits(tmp_path):
    export = tmp_path / "subunits.csv"
    export.write_text(
        "id,reference,status,amount,fees,currency,paid_at\n77,ref-1,success,1500000,32500,NGN,2026-01-15T09:00:12Z\n"
    )
    assert list(PaystackStatement(export, minor_units=True).lines()) == [
        line(2, "paystack", "77", C, 1500000, 32500, 1467500, "NGN", "2026-01-15T09:00:12+00:00", "ref-1"),
    ]  # fmt: skip
    export.write_text(
        "id,reference,status,amount,fees,currency,paid_at\n77,ref-1,success,15000.00,0,NGN,2026-01-15T09:00:12Z\n"
    )
    with pytest.raises(StatementError) as refused:
        list(PaystackStatement(export, minor_units=True).lines())
    assert refused.value.line_number == 2


def test_generic_statement():
    parsed = list(GenericStatement(SAMPLES / "generic.csv").lines())
    assert parsed == [
        line(2, "pesapal", "9f3c1d2e-0001", C, 100000, 3500, 96500, "KES", "2026-01-15T10:23:45+03:00", "order-3001"),
        line(3, "pesapal", "9f3c1d2e-0002", C, 15000, 450, 14550, "UGX", "2026-01-15T11:00:00+03:00"),
        line(4, "pesapal", "9f3c1d2e-0003", R, -50000, 0, -50000, "KES", "2026-01-16T08:00:00+00:00", "order-3001"),
        line(5, "pesapal", "PO-778", P, -46500, 0, -46500, "KES", "2026-01-16T12:00:00+00:00"),
        line(6, "pesapal", "FEE-2026-01", F, -1000, 0, -1000, "KES", "2026-01-31T23:59:59+03:00", "monthly fee"),
    ]  # fmt: skip


def test_generic_statement_with_the_optional_payout_id_column():
    parsed = list(GenericStatement(SAMPLES / "generic_with_payouts.csv").lines())
    po = "PO-790"
    assert parsed == [
        line(2, "pesapal", "9f3c1d2e-0011", C, 100000, 3500, 96500, "KES", "2026-01-15T10:23:45+03:00", "order-3011", po),
        line(3, "pesapal", "9f3c1d2e-0012", R, -50000, 0, -50000, "KES", "2026-01-16T08:00:00+00:00", "order-3011", po),
        line(4, "pesapal", "FEE-2026-01-16", F, -1000, 0, -1000, "KES", "2026-01-16T09:00:00+00:00", None, po),
        line(5, "pesapal", po, P, -45500, 0, -45500, "KES", "2026-01-17T12:00:00+00:00"),
    ]  # fmt: skip
    _, breaks = matching.match(map(staged_line, parsed), [], MatchRules())
    assert [draft.line.line_number for draft in breaks if draft.line] == [2, 3], "the payout settles them"


def test_a_generic_header_with_other_extra_columns_is_refused(tmp_path):
    path = tmp_path / "generic.csv"
    header = "provider,external_id,type,gross,fee,net,currency,occurred_at,reference,settlement\n"
    path.write_text(header, encoding="utf-8")
    with pytest.raises(StatementError, match="optionally followed by payout_id"):
        list(GenericStatement(path).lines())


def test_generic_statement_bound_to_one_provider_refuses_another():
    with pytest.raises(StatementError) as refused:
        list(GenericStatement(SAMPLES / "generic.csv", provider="mpesa").lines())
    assert refused.value.line_number == 2


@pytest.mark.parametrize(
    ("provider", "sample", "options", "kind"),
    [
        ("stripe", "stripe_itemized_payout_reconciliation.csv", {}, StripeStatement),
        ("mercadopago", "mercadopago_release_report.csv", {"currency": "BRL"}, MercadoPagoStatement),
        ("mpesa", "mpesa_organisation_statement.csv", {}, MpesaStatement),
        ("paystack", "paystack_transactions.csv", {}, PaystackStatement),
        ("generic", "generic.csv", {}, GenericStatement),
    ],
)
def test_open_statement_picks_the_parser_and_reads_again_from_a_path(provider, sample, options, kind):
    statement = open_statement(provider, SAMPLES / sample, **options)
    assert isinstance(statement, kind)
    first = list(statement.lines())
    assert first
    assert list(statement.lines()) == first
    with open(SAMPLES / sample, "rb") as stream:
        assert list(open_statement(provider, stream, **options).lines()) == first
    with open(SAMPLES / sample, encoding="utf-8", newline="") as text:
        assert list(open_statement(provider, text, **options).lines()) == first


def test_open_statement_refuses_unknown_providers_and_options():
    with pytest.raises(ValidationError):
        open_statement("paypal", SAMPLES / "generic.csv")
    with pytest.raises(ValidationError):
        open_statement("mercadopago", SAMPLES / "mercadopago_release_report.csv")
    with pytest.raises(ValidationError):
        open_statement("mercadopago", SAMPLES / "mercadopago_release_report.csv", currency="XYZ")


def test_statement_error_is_a_validation_error_with_its_line():
    error = StatementError(7, "bad amount")
    assert isinstance(error, ValidationError)
    assert (error.line_number, error.code, error.details["line"]) == (7, "INVALID_STATEMENT", 7)
    assert "line 7" in str(error)


@pytest.mark.parametrize(
    ("provider", "sample", "options"),
    [
        ("stripe", "stripe_itemized_payout_reconciliation.csv", {}),
        ("mercadopago", "mercadopago_release_report.csv", {"currency": "BRL"}),
        ("mpesa", "mpesa_organisation_statement.csv", {}),
        ("paystack", "paystack_transactions.csv", {}),
        ("generic", "generic.csv", {}),
    ],
)
def test_the_staged_form_is_the_same_lines_in_minor_units(provider, sample, options):
    source = open_statement(provider, SAMPLES / sample, **options)
    lines = list(source.lines())
    assert lines, "the sample has movements"
    assert list(source.staged()) == [staged_line(line) for line in lines]
