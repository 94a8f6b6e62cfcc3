"""Fee invariants for any valid rule and amount: a quote always balances, refunds give back the fee."""

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from payments_core.fees import ANY, FeeOperation, FeeRule, refund_fee_share
from payments_core.money import Money

AMOUNT = st.integers(min_value=0, max_value=10**12)
CURRENCIES = st.sampled_from(["KES", "USD", "JPY", "KWD"])


@st.composite
def rules(draw: st.DrawFn) -> FeeRule:
    """Any valid rule: ANY-currency rules carry only basis points."""
    operation = draw(st.sampled_from(FeeOperation))
    basis_points = draw(st.integers(min_value=0, max_value=10_000))
    method = draw(st.sampled_from([ANY, "mpesa", "card"]))
    if draw(st.booleans()):
        return FeeRule(operation, ANY, method, basis_points=basis_points)
    minimum = draw(AMOUNT)
    maximum = draw(st.none() | st.integers(min_value=minimum, max_value=10**12 + 1))
    return FeeRule(
        operation,
        draw(CURRENCIES),
        method,
        flat_minor=draw(AMOUNT),
        basis_points=basis_points,
        minimum_minor=minimum,
        maximum_minor=maximum,
        minimum_operation_minor=draw(st.integers(min_value=0, max_value=10**6)),
    )


@st.composite
def rules_and_gross(draw: st.DrawFn) -> tuple[FeeRule, Money]:
    """A rule and an amount it accepts: positive, in its currency, above its minimum operation."""
    rule = draw(rules())
    currency = draw(CURRENCIES) if rule.currency == ANY else rule.currency
    lowest = max(1, rule.minimum_operation_minor)
    return rule, Money(draw(st.integers(min_value=lowest, max_value=10**13)), currency)


@given(rules_and_gross())
def test_fee_and_net_add_up_to_gross_in_its_currency(case: tuple[FeeRule, Money]) -> None:
    rule, gross = case
    quote = rule.quote(gross)
    assert quote.fee + quote.net == gross
    assert quote.fee.currency == quote.net.currency == gross.currency


@given(rules_and_gross())
def test_fee_is_never_negative_and_never_more_than_gross(case: tuple[FeeRule, Money]) -> None:
    rule, gross = case
    quote = rule.quote(gross)
    assert 0 <= quote.fee.minor <= gross.minor
    assert quote.net.minor >= 0


@given(rules_and_gross())
def test_fee_respects_the_minimum_unless_the_gross_is_smaller(case: tuple[FeeRule, Money]) -> None:
    rule, gross = case
    assert rule.quote(gross).fee.minor >= min(rule.minimum_minor, gross.minor)


@given(rules_and_gross())
def test_fee_never_exceeds_the_maximum(case: tuple[FeeRule, Money]) -> None:
    rule, gross = case
    if rule.maximum_minor is not None:
        assert rule.quote(gross).fee.minor <= rule.maximum_minor


@given(rules_and_gross(), st.integers(min_value=0, max_value=10**12))
def test_fee_does_not_decrease_when_the_gross_grows(case: tuple[FeeRule, Money], increase: int) -> None:
    rule, gross = case
    larger = Money(gross.minor + increase, gross.currency)
    assert rule.quote(gross).fee.minor <= rule.quote(larger).fee.minor


@st.composite
def payments_and_refunds(draw: st.DrawFn) -> tuple[Money, Money, list[Money]]:
    """A payment (fee, gross) and a random split of its gross into partial refunds."""
    currency = draw(CURRENCIES)
    gross = draw(st.integers(min_value=1, max_value=10**12))
    fee = draw(st.integers(min_value=0, max_value=gross))
    cuts = draw(st.lists(st.integers(min_value=1, max_value=max(1, gross - 1)), max_size=30, unique=True))
    points = [0, *sorted(cut for cut in cuts if cut < gross), gross]
    parts = [Money(end - start, currency) for start, end in pairwise(points)]
    return Money(fee, currency), Money(gross, currency), parts


@given(payments_and_refunds())
def test_refund_shares_of_any_split_add_up_to_exactly_the_fee(
    case: tuple[Money, Money, list[Money]],
) -> None:
    fee, gross, parts = case
    before, total = Money.zero(gross.currency), Money.zero(gross.currency)
    for part in parts:
        total += refund_fee_share(fee, gross, before, part)
        before += part
    assert total == fee


@given(payments_and_refunds())
def test_each_refund_share_is_between_zero_and_the_fee(
    case: tuple[Money, Money, list[Money]],
) -> None:
    fee, gross, parts = case
    before = Money.zero(gross.currency)
    for part in parts:
        share = refund_fee_share(fee, gross, before, part)
        assert 0 <= share.minor <= fee.minor
        before += part
