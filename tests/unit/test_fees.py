"""Fee rules, schedules and tenant policies: the reference schedule first, then the edges."""

from types import MappingProxyType

import attrs
import pytest

from payments_core.errors import CurrencyMismatch, InvalidAmount, UnknownCurrency, ValidationError
from payments_core.fees import (
    ANY,
    DEFAULT_PAYMENT_RULE,
    DEFAULT_WITHDRAWAL_RULES,
    PLATFORM_DEFAULT_SCHEDULE,
    FeeOperation,
    FeePolicy,
    FeeQuote,
    FeeRule,
    FeeSchedule,
    refund_fee_share,
)
from payments_core.money import Money

PAYMENT = FeeOperation.PAYMENT
REFUND = FeeOperation.REFUND
WITHDRAWAL = FeeOperation.WITHDRAWAL


def kes(amount: str) -> Money:
    return Money.parse(amount, "KES")


def withdraw(method: str, amount: str) -> FeeQuote:
    return PLATFORM_DEFAULT_SCHEDULE.quote(WITHDRAWAL, method, kes(amount))


# --- the reference schedule -----------------------------------------------------------------


def test_mpesa_withdrawal_of_1000_kes_costs_33_and_nets_967() -> None:
    quote = withdraw("mpesa", "1000.00")
    assert quote.fee == kes("33.00")
    assert quote.net == kes("967.00")
    assert quote.rule is DEFAULT_WITHDRAWAL_RULES[0]


def test_bank_transfer_withdrawal_costs_a_flat_50_kes() -> None:
    assert withdraw("bank_transfer", "1000.00").fee == kes("50.00")


def test_till_withdrawal_costs_a_flat_27_kes() -> None:
    assert withdraw("till", "1000.00").fee == kes("27.00")


def test_mpesa_withdrawal_below_10_kes_is_refused_with_the_minimum_in_major_units() -> None:
    with pytest.raises(InvalidAmount) as raised:
        withdraw("mpesa", "5.00")
    assert raised.value.code == "INVALID_AMOUNT"
    assert raised.value.details == {"minimum": "10.00", "currency": "KES"}


def test_bank_transfer_withdrawal_below_100_kes_is_refused() -> None:
    with pytest.raises(InvalidAmount) as raised:
        withdraw("bank_transfer", "99.99")
    assert raised.value.details["minimum"] == "100.00"


def test_bank_transfer_withdrawal_of_exactly_100_kes_is_accepted() -> None:
    quote = withdraw("bank_transfer", "100.00")
    assert (quote.fee, quote.net) == (kes("50.00"), kes("50.00"))


def test_default_payment_fee_is_2_5_percent_in_any_currency() -> None:
    quote = PLATFORM_DEFAULT_SCHEDULE.quote(PAYMENT, "card", Money.parse("100.00", "USD"))
    assert quote.fee == Money.parse("2.50", "USD")
    assert quote.rule is DEFAULT_PAYMENT_RULE
    assert DEFAULT_PAYMENT_RULE.returns_fee_on_refund is False


def test_operation_without_a_rule_is_free_and_names_no_rule() -> None:
    quote = PLATFORM_DEFAULT_SCHEDULE.quote(REFUND, "card", kes("10.00"))
    assert (quote.fee, quote.net, quote.rule) == (kes("0.00"), kes("10.00"), None)


def test_operation_without_a_rule_still_refuses_a_zero_gross() -> None:
    with pytest.raises(InvalidAmount):
        PLATFORM_DEFAULT_SCHEDULE.quote(REFUND, "card", kes("0.00"))


# --- computation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gross_minor", "fee_minor"),
    [(1, 0), (19, 0), (20, 1), (59, 1), (60, 2), (10_000, 250)],
)
def test_basis_points_round_half_up(gross_minor: int, fee_minor: int) -> None:
    rule = FeeRule(PAYMENT, basis_points=250)
    assert rule.quote(Money(gross_minor, "KES")).fee.minor == fee_minor


def test_flat_and_percentage_parts_add_up() -> None:
    rule = FeeRule(PAYMENT, "KES", flat_minor=100, basis_points=100)
    assert rule.quote(Money(10_000, "KES")).fee.minor == 200


def test_minimum_fee_raises_a_small_fee() -> None:
    rule = FeeRule(PAYMENT, "KES", basis_points=100, minimum_minor=500)
    assert rule.quote(Money(10_000, "KES")).fee.minor == 500


def test_maximum_fee_caps_a_large_fee() -> None:
    rule = FeeRule(PAYMENT, "KES", basis_points=100, maximum_minor=5_000)
    assert rule.quote(Money(10_000_000, "KES")).fee.minor == 5_000


def test_fee_is_capped_at_the_gross_so_net_is_never_negative() -> None:
    quote = FeeRule(WITHDRAWAL, "KES", flat_minor=3300).quote(Money(1000, "KES"))
    assert (quote.fee.minor, quote.net.minor) == (1000, 0)


def test_minimum_fee_is_capped_at_the_gross_too() -> None:
    quote = FeeRule(PAYMENT, "KES", minimum_minor=500).quote(Money(300, "KES"))
    assert (quote.fee.minor, quote.net.minor) == (300, 0)


@pytest.mark.parametrize("minor", [0, -100])
def test_zero_or_negative_gross_is_refused(minor: int) -> None:
    with pytest.raises(InvalidAmount):
        DEFAULT_PAYMENT_RULE.quote(Money(minor, "KES"))


def test_gross_in_another_currency_than_the_rule_is_refused() -> None:
    with pytest.raises(CurrencyMismatch):
        DEFAULT_WITHDRAWAL_RULES[0].quote(Money(100_000, "USD"))


# --- rule validation ----------------------------------------------------------------------


def test_any_currency_rule_with_a_flat_amount_is_refused() -> None:
    with pytest.raises(ValidationError):
        FeeRule(PAYMENT, ANY, flat_minor=100)


@pytest.mark.parametrize(
    "amounts",
    [{"minimum_minor": 1}, {"maximum_minor": 0}, {"minimum_operation_minor": 1}],
)
def test_any_currency_rule_with_any_other_amount_is_refused(amounts: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        FeeRule(PAYMENT, ANY, **amounts)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "field",
    ["flat_minor", "minimum_minor", "maximum_minor", "minimum_operation_minor"],
)
@pytest.mark.parametrize("value", [-1, True, 1.0, "1"])
def test_amounts_must_be_non_negative_real_ints(field: str, value: object) -> None:
    with pytest.raises(InvalidAmount):
        FeeRule(PAYMENT, "KES", **{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [-1, 10_001, True, 250.0])
def test_basis_points_must_be_an_int_from_0_to_10000(value: object) -> None:
    with pytest.raises(ValidationError):
        FeeRule(PAYMENT, basis_points=value)  # type: ignore[arg-type]


def test_basis_points_of_10000_take_the_whole_gross() -> None:
    assert FeeRule(PAYMENT, basis_points=10_000).quote(Money(1234, "KES")).net.minor == 0


def test_maximum_below_minimum_is_refused() -> None:
    with pytest.raises(InvalidAmount):
        FeeRule(PAYMENT, "KES", minimum_minor=500, maximum_minor=499)


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(UnknownCurrency):
        FeeRule(PAYMENT, "XXX")


def test_unknown_operation_is_refused() -> None:
    with pytest.raises(ValidationError):
        FeeRule("deposit")


def test_operation_may_be_given_in_its_wire_form() -> None:
    assert FeeRule("withdrawal").operation is WITHDRAWAL


@pytest.mark.parametrize("method", ["", " mpesa", 7])
def test_method_must_be_a_plain_non_empty_name(method: object) -> None:
    with pytest.raises(ValidationError):
        FeeRule(PAYMENT, method=method)  # type: ignore[arg-type]


def test_returning_the_fee_on_refund_must_be_a_real_bool() -> None:
    with pytest.raises(ValidationError):
        FeeRule(PAYMENT, returns_fee_on_refund=1)  # type: ignore[arg-type]


def test_only_a_payment_rule_may_return_its_fee_on_refund() -> None:
    with pytest.raises(ValidationError):
        FeeRule(WITHDRAWAL, returns_fee_on_refund=True)


def test_rule_is_immutable() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        DEFAULT_PAYMENT_RULE.basis_points = 0  # type: ignore[misc]


# --- quote invariant ----------------------------------------------------------------------


def test_quote_whose_parts_do_not_add_up_is_refused() -> None:
    with pytest.raises(InvalidAmount):
        FeeQuote(kes("10.00"), kes("1.00"), kes("8.00"), None)


def test_quote_with_a_negative_fee_is_refused() -> None:
    with pytest.raises(InvalidAmount):
        FeeQuote(kes("10.00"), kes("-1.00"), kes("11.00"), None)


def test_quote_mixing_currencies_is_refused() -> None:
    with pytest.raises(CurrencyMismatch):
        FeeQuote(kes("10.00"), Money(100, "USD"), kes("9.00"), None)


# --- schedule -----------------------------------------------------------------------------

SPECIFICITY_RULES = (
    FeeRule(PAYMENT, basis_points=1),
    FeeRule(PAYMENT, "KES", basis_points=2),
    FeeRule(PAYMENT, ANY, "card", basis_points=3),
    FeeRule(PAYMENT, "KES", "card", basis_points=4),
)


@pytest.mark.parametrize(
    ("method", "currency", "expected_bps"),
    [("card", "KES", 4), ("card", "USD", 3), ("mpesa", "KES", 2), ("mpesa", "USD", 1)],
)
def test_find_prefers_method_then_currency_then_wildcards(
    method: str, currency: str, expected_bps: int
) -> None:
    schedule = FeeSchedule(SPECIFICITY_RULES)
    rule = schedule.find(PAYMENT, method, currency)
    assert rule is not None
    assert rule.basis_points == expected_bps


def test_find_does_not_depend_on_rule_order() -> None:
    forward, backward = FeeSchedule(SPECIFICITY_RULES), FeeSchedule(SPECIFICITY_RULES[::-1])
    for method in ("card", "mpesa"):
        for currency in ("KES", "USD"):
            assert forward.find(PAYMENT, method, currency) == backward.find(PAYMENT, method, currency)


def test_find_answers_none_for_an_operation_without_rules() -> None:
    assert FeeSchedule(SPECIFICITY_RULES).find(WITHDRAWAL, "card", "KES") is None


def test_find_refuses_an_unknown_currency() -> None:
    with pytest.raises(UnknownCurrency):
        PLATFORM_DEFAULT_SCHEDULE.find(PAYMENT, "card", "XXX")


def test_two_rules_for_the_same_operation_method_and_currency_are_refused() -> None:
    with pytest.raises(ValidationError):
        FeeSchedule((FeeRule(PAYMENT, "KES", "card"), FeeRule(PAYMENT, "KES", "card", flat_minor=1)))


def test_same_method_and_currency_for_different_operations_is_allowed() -> None:
    schedule = FeeSchedule([FeeRule(PAYMENT, "KES", "card"), FeeRule(REFUND, "KES", "card")])
    assert len(schedule.rules) == 2


def test_schedule_accepts_any_iterable_and_stores_a_tuple() -> None:
    assert FeeSchedule(iter(SPECIFICITY_RULES)).rules == SPECIFICITY_RULES


def test_schedule_holds_only_rules() -> None:
    with pytest.raises(ValidationError):
        FeeSchedule(("mpesa",))  # type: ignore[arg-type]


def test_withdrawal_methods_for_kes_are_mpesa_till_and_bank_transfer_in_order() -> None:
    assert PLATFORM_DEFAULT_SCHEDULE.methods(WITHDRAWAL, "KES") == ("mpesa", "till", "bank_transfer")


def test_rules_for_kes_withdrawals_lists_each_method_fee_and_minimum() -> None:
    options = {
        rule.method: (rule.flat_minor, rule.minimum_operation_minor)
        for rule in PLATFORM_DEFAULT_SCHEDULE.rules_for(WITHDRAWAL, "KES")
    }
    assert options == {"mpesa": (3300, 1000), "till": (2700, 1000), "bank_transfer": (5000, 10000)}


def test_no_concrete_withdrawal_method_exists_for_usd() -> None:
    assert PLATFORM_DEFAULT_SCHEDULE.methods(WITHDRAWAL, "USD") == ()
    assert PLATFORM_DEFAULT_SCHEDULE.rules_for(WITHDRAWAL, "USD") == ()


def test_rules_for_includes_wildcard_rules_but_not_the_methods_they_cover() -> None:
    assert PLATFORM_DEFAULT_SCHEDULE.rules_for(PAYMENT, "USD") == (DEFAULT_PAYMENT_RULE,)
    assert PLATFORM_DEFAULT_SCHEDULE.methods(PAYMENT, "USD") == ()


def test_rules_for_leaves_out_a_rule_shadowed_by_a_currency_specific_one() -> None:
    generic, specific = FeeRule(PAYMENT, ANY, "card"), FeeRule(PAYMENT, "KES", "card")
    schedule = FeeSchedule((generic, specific))
    assert schedule.rules_for(PAYMENT, "KES") == (specific,)
    assert schedule.rules_for(PAYMENT, "USD") == (generic,)
    assert schedule.methods(PAYMENT, "KES") == ("card",)


# --- tenant policy ------------------------------------------------------------------------

TENANT_SCHEDULE = FeeSchedule(
    (FeeRule(WITHDRAWAL, "KES", "mpesa", flat_minor=1000, minimum_operation_minor=500),)
)


def test_tenant_rule_beats_the_platform_default() -> None:
    policy = FeePolicy(PLATFORM_DEFAULT_SCHEDULE, {"acme": TENANT_SCHEDULE})
    quote = policy.quote("acme", WITHDRAWAL, "mpesa", kes("1000.00"))
    assert quote.fee == kes("10.00")
    assert quote.rule is TENANT_SCHEDULE.rules[0]


def test_tenant_without_a_matching_rule_falls_back_to_the_platform_rule() -> None:
    policy = FeePolicy(PLATFORM_DEFAULT_SCHEDULE, {"acme": TENANT_SCHEDULE})
    assert policy.quote("acme", WITHDRAWAL, "till", kes("1000.00")).fee == kes("27.00")


def test_tenant_without_a_schedule_uses_the_platform_default() -> None:
    policy = FeePolicy(PLATFORM_DEFAULT_SCHEDULE, {"acme": TENANT_SCHEDULE})
    assert policy.quote("other", WITHDRAWAL, "mpesa", kes("1000.00")).fee == kes("33.00")


def test_tenant_wildcard_rule_beats_a_more_specific_platform_rule() -> None:
    tenant = FeeSchedule((FeeRule(WITHDRAWAL),))
    policy = FeePolicy(PLATFORM_DEFAULT_SCHEDULE, {"acme": tenant})
    assert policy.find("acme", WITHDRAWAL, "mpesa", "KES") is tenant.rules[0]


def test_no_rule_anywhere_makes_the_operation_free() -> None:
    policy = FeePolicy(PLATFORM_DEFAULT_SCHEDULE, {"acme": TENANT_SCHEDULE})
    assert policy.quote("acme", REFUND, "card", kes("10.00")).rule is None


def test_tenant_schedules_cannot_be_changed_through_the_mapping_given() -> None:
    given = {"acme": TENANT_SCHEDULE}
    policy = FeePolicy(PLATFORM_DEFAULT_SCHEDULE, given)
    given["acme"] = FeeSchedule(())
    assert isinstance(policy.tenant_schedules, MappingProxyType)
    assert policy.tenant_schedules["acme"] is TENANT_SCHEDULE


def test_with_tenant_schedule_returns_a_new_policy_and_leaves_the_old_one() -> None:
    before = FeePolicy(PLATFORM_DEFAULT_SCHEDULE)
    after = before.with_tenant_schedule("acme", TENANT_SCHEDULE)
    assert dict(before.tenant_schedules) == {}
    assert after.quote("acme", WITHDRAWAL, "mpesa", kes("1000.00")).fee == kes("10.00")


def test_tenant_schedules_must_map_names_to_schedules() -> None:
    with pytest.raises(ValidationError):
        FeePolicy(PLATFORM_DEFAULT_SCHEDULE, {"acme": DEFAULT_PAYMENT_RULE})  # type: ignore[dict-item]


def test_policy_is_hashable_and_equal_by_value() -> None:
    first = FeePolicy(PLATFORM_DEFAULT_SCHEDULE, {"acme": TENANT_SCHEDULE})
    second = FeePolicy(PLATFORM_DEFAULT_SCHEDULE, {"acme": TENANT_SCHEDULE})
    assert first == second
    assert hash(first) == hash(second)


# --- refunds ------------------------------------------------------------------------------


def test_three_partial_refunds_give_back_exactly_the_whole_fee() -> None:
    fee, gross = Money(250, "KES"), Money(10_000, "KES")
    shares, before = [], Money(0, "KES")
    for part in (3333, 3333, 3334):
        shares.append(refund_fee_share(fee, gross, before, Money(part, "KES")).minor)
        before += Money(part, "KES")
    assert shares == [83, 84, 83]
    assert sum(shares) == 250


def test_full_refund_gives_back_the_whole_fee() -> None:
    fee, gross = Money(250, "KES"), Money(10_000, "KES")
    assert refund_fee_share(fee, gross, Money(0, "KES"), gross) == fee


def test_refund_share_rounds_half_up() -> None:
    share = refund_fee_share(Money(1, "KES"), Money(2, "KES"), Money(0, "KES"), Money(1, "KES"))
    assert share.minor == 1


def test_refund_beyond_the_payment_is_refused() -> None:
    with pytest.raises(InvalidAmount) as raised:
        refund_fee_share(Money(250, "KES"), Money(10_000, "KES"), kes("60.00"), kes("40.01"))
    assert raised.value.details["maximum"] == "40.00"


@pytest.mark.parametrize(("before", "refund"), [(0, 0), (0, -1), (-1, 10)])
def test_refund_must_be_positive_and_the_amount_before_not_negative(before: int, refund: int) -> None:
    with pytest.raises(InvalidAmount):
        refund_fee_share(Money(250, "KES"), Money(10_000, "KES"), Money(before, "KES"), Money(refund, "KES"))


def test_refund_fee_larger_than_the_payment_is_refused() -> None:
    with pytest.raises(InvalidAmount):
        refund_fee_share(Money(101, "KES"), Money(100, "KES"), Money(0, "KES"), Money(1, "KES"))


def test_refund_in_another_currency_is_refused() -> None:
    with pytest.raises(CurrencyMismatch):
        refund_fee_share(Money(250, "KES"), Money(10_000, "KES"), Money(0, "KES"), Money(1, "USD"))
