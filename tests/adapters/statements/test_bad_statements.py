"""Every kind of malformed statement is refused with the line that proves it; nothing is skipped."""

from pathlib import Path

import pytest

from adapters.statements import MpesaColumns, StatementError, open_statement

SAMPLES = Path(__file__).parents[3] / "contracts" / "providers" / "statements"
FORMATS = {
    "stripe": ("stripe_itemized_payout_reconciliation.csv", {}),
    "mercadopago": ("mercadopago_release_report.csv", {"currency": "BRL"}),
    "mpesa": ("mpesa_organisation_statement.csv", {}),
    "paystack": ("paystack_transactions.csv", {}),
    "generic": ("generic.csv", {}),
}
# Per format, a data line to spoil and how to spoil it: kind -> (old text, new text) on that line.
MUTATIONS = {
    "stripe": (3, {
        "extra column": (",order-1002", ",order-1002,surplus"),
        "missing column": (",order-1002", ""),
        "bad amount": ("49.99", "4x.99"),
        "float-style amount": ("49.99", "4.999e1"),
        "too many decimals": ("49.99,1.75,48.24", "49.991,1.75,48.241"),
        "unknown currency": (",usd,", ",xyz,"),
        "bad date": ("2026-01-15 11:40:03", "2026-01-15 25:40:03"),
        "unknown type": (",charge,", ",chrage,"),
        "gross - fee != net": ("48.24", "48.25"),
    }),
    "mercadopago": (4, {
        "extra column": (",9876543211", ",9876543211,surplus"),
        "bad amount": ("250.50", "250.5O"),
        "too many decimals": ("250.50", "250.501"),
        "bad date": ("2026-01-15T17:45:30.000-03:00", "15/01/2026"),
        "date without offset": ("2026-01-15T17:45:30.000-03:00", "2026-01-15T17:45:30"),
        "unknown type": (",payment,", ",paymnet,"),
        "unknown record type": (",release,", ",relase,"),
        "fees do not add up": ("236.14", "236.15"),
        "empty source id": (",1320460455,", ",,"),
    }),
    "mpesa": (3, {
        "extra column": (",INV1002", ",INV1002,surplus"),
        "bad amount": ("250.00", "25O.00"),
        "too many decimals": ("250.00", "250.005"),
        "bad date": ("2026-01-15 09:30:41", "yesterday"),
        "unknown status": (",Completed,", ",Done,"),
        "money both in and out": (",250.00,,", ",250.00,10.00,"),
        "no money moved": (",250.00,,", ",0.00,,"),
        "empty receipt": ("SAF1A2B3C5,", ","),
    }),
    "paystack": (4, {
        "missing column": (",bank_transfer", ""),
        "bad amount": ("2500.50", "2500.5x"),
        "too many decimals": ("37.51", "37.515"),
        "unknown currency": (",NGN,", ",XYZ,"),
        "bad date": ("2026-01-15T14:33:47.000Z", "15/01/2026"),
        "unknown type": (",charge,", ",gift,"),
        "unknown status": (",success,", ",great,"),
    }),
    "generic": (3, {
        "extra column": ("+03:00,", "+03:00,,"),
        "bad amount": (",15000,", ",15e3,"),
        "huge amount": (",15000,", ",90071992547409910,"),
        "too many decimals": ("15000,450,14550", "15000.5,450,14550.5"),
        "unknown currency": (",UGX,", ",XYZ,"),
        "bad date": ("2026-01-15T11:00:00+03:00", "2026-02-30T11:00:00+03:00"),
        "date without offset": ("2026-01-15T11:00:00+03:00", "2026-01-15T11:00:00"),
        "unknown type": (",charge,", ",sale,"),
        "gross - fee != net": ("14550", "14551"),
        "empty external id": (",9f3c1d2e-0002,", ",,"),
    }),
}  # fmt: skip
CASES = [
    pytest.param(provider, number, old, new, id=f"{provider}: {kind}")
    for provider, (number, kinds) in MUTATIONS.items()
    for kind, (old, new) in kinds.items()
]


def sample_bytes(provider: str) -> bytes:
    return (SAMPLES / FORMATS[provider][0]).read_bytes()


def refusal(provider: str, content: bytes, tmp_path: Path) -> StatementError:
    name, options = FORMATS[provider]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(StatementError) as refused:
        list(open_statement(provider, path, **options).lines())
    return refused.value


def spoiled(provider: str, number: int, old: bytes, new: bytes) -> bytes:
    lines = sample_bytes(provider).splitlines(keepends=True)
    assert old in lines[number - 1], "the mutation must apply to the chosen line"
    lines[number - 1] = lines[number - 1].replace(old, new, 1)
    return b"".join(lines)


@pytest.mark.parametrize(("provider", "number", "old", "new"), CASES)
def test_a_malformed_row_is_refused_at_its_line(provider, number, old, new, tmp_path):
    error = refusal(provider, spoiled(provider, number, old.encode(), new.encode()), tmp_path)
    assert error.line_number == number, error.message


@pytest.mark.parametrize("provider", FORMATS)
def test_bytes_that_are_not_utf8_are_refused_at_their_line(provider, tmp_path):
    lines = sample_bytes(provider).splitlines(keepends=True)
    lines[3] = lines[3][:5] + "ñ".encode("latin-1") + lines[3][5:]
    assert refusal(provider, b"".join(lines), tmp_path).line_number == 4


@pytest.mark.parametrize("provider", FORMATS)
@pytest.mark.parametrize("cut", ["terminator", "half"])
def test_a_truncated_last_row_is_refused(provider, cut, tmp_path):
    content = sample_bytes(provider)
    lines = content.splitlines(keepends=True)
    cut_short = content.rstrip(b"\r\n") if cut == "terminator" else content[: -len(lines[-1]) // 2]
    assert refusal(provider, cut_short, tmp_path).line_number == len(lines)


@pytest.mark.parametrize("provider", FORMATS)
def test_an_unclosed_quote_is_refused_where_its_row_starts(provider, tmp_path):
    lines = sample_bytes(provider).splitlines(keepends=True)
    lines[2] = b'"' + lines[2]
    assert refusal(provider, b"".join(lines), tmp_path).line_number == 3


@pytest.mark.parametrize("provider", FORMATS)
def test_a_nul_byte_is_refused_at_its_line(provider, tmp_path):
    lines = sample_bytes(provider).splitlines(keepends=True)
    lines[4] = lines[4][:3] + b"\x00" + lines[4][3:]
    assert refusal(provider, b"".join(lines), tmp_path).line_number == 5


@pytest.mark.parametrize("provider", FORMATS)
def test_an_empty_file_has_no_header(provider, tmp_path):
    assert refusal(provider, b"", tmp_path).line_number == 1
    assert refusal(provider, b"\n", tmp_path).line_number == 1


@pytest.mark.parametrize("provider", FORMATS)
def test_a_header_without_a_required_column_is_refused(provider, tmp_path):
    lines = sample_bytes(provider).splitlines(keepends=True)
    first_column = lines[0].split(b",")[0]
    lines[0] = lines[0].replace(first_column, b"renamed", 1)
    assert refusal(provider, b"".join(lines), tmp_path).line_number == 1


@pytest.mark.parametrize("provider", FORMATS)
def test_a_header_that_repeats_a_column_is_refused(provider, tmp_path):
    lines = sample_bytes(provider).splitlines(keepends=True)
    first_column = lines[0].split(b",")[0]
    lines[0] = lines[0].rstrip(b"\r\n") + b"," + first_column + b"\n"
    assert refusal(provider, b"".join(lines), tmp_path).line_number == 1


def test_the_generic_header_must_be_exact(tmp_path):
    lines = sample_bytes("generic").splitlines(keepends=True)
    lines[0] = b"external_id,provider,type,gross,fee,net,currency,occurred_at,reference\n"
    assert refusal("generic", b"".join(lines), tmp_path).line_number == 1


@pytest.mark.parametrize("provider", FORMATS)
def test_a_header_only_file_has_no_lines_and_blank_lines_carry_none(provider, tmp_path):
    name, options = FORMATS[provider]
    lines = sample_bytes(provider).splitlines(keepends=True)
    header_only = tmp_path / "header.csv"
    header_only.write_bytes(lines[0])
    assert list(open_statement(provider, header_only, **options).lines()) == []
    padded = tmp_path / "padded.csv"
    padded.write_bytes(b"".join([*lines[:3], b"\n", *lines[3:], b"\r\n"]))
    original = list(open_statement(provider, SAMPLES / name, **options).lines())
    shifted = list(open_statement(provider, padded, **options).lines())
    assert [entry.external_id for entry in shifted] == [entry.external_id for entry in original]
    assert [entry.line_number for entry in shifted] == [
        n + (n > 3) for n in (e.line_number for e in original)
    ]


@pytest.mark.parametrize(
    ("name", "provider", "options", "number"),
    [
        ("generic_not_utf8.csv", "generic", {}, 4),
        ("generic_too_many_decimals.csv", "generic", {}, 3),
        ("generic_truncated.csv", "generic", {}, 6),
        ("mercadopago_wrong_columns.csv", "mercadopago", {"currency": "BRL"}, 5),
        ("mpesa_bad_date.csv", "mpesa", {}, 3),
        ("paystack_unknown_currency.csv", "paystack", {}, 4),
        ("stripe_wrong_header.csv", "stripe", {}, 1),
    ],
)
def test_the_published_bad_samples(name, provider, options, number):
    with pytest.raises(StatementError) as refused:
        list(open_statement(provider, SAMPLES / "bad" / name, **options).lines())
    assert refused.value.line_number == number


def test_rows_before_the_bad_one_are_still_streamed_in_order(tmp_path):
    content = spoiled("generic", 5, b"-465.00", b"-465.001")
    path = tmp_path / "late.csv"
    path.write_bytes(content)
    seen = []
    with pytest.raises(StatementError) as refused:
        for entry in open_statement("generic", path).lines():
            seen.append(entry.line_number)
    assert (seen, refused.value.line_number) == ([2, 3, 4], 5)


def test_an_mpesa_mapping_naming_a_missing_column_is_a_header_error(tmp_path):
    with pytest.raises(StatementError) as refused:
        list(
            open_statement(
                "mpesa", SAMPLES / FORMATS["mpesa"][0], columns=MpesaColumns(paid_in="Credit")
            ).lines()
        )
    assert refused.value.line_number == 1
