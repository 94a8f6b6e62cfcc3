"""Authorization policies: scopes per operation, four-eyes withdrawals, MFA step-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from payments_core.errors import (
    FourEyesViolation,
    InsufficientPermissions,
    MfaChallengeRequired,
    ValidationError,
)
from payments_core.policies import (
    CLOCK_SKEW,
    MFA_FRESHNESS,
    REQUIRED_SCOPES,
    Operation,
    Principal,
    PrincipalKind,
    Scope,
    StepUpAction,
    require_four_eyes,
    require_scope,
    require_step_up,
)

NOW = datetime(2025, 3, 14, 12, 0, 0, tzinfo=UTC)
TENANT = "tenant-1"
ALL_SCOPES = frozenset(scope.value for scope in Scope)


def user(
    user_id: str = "user-1",
    scopes: frozenset[str] = ALL_SCOPES,
    mfa_verified_at: datetime | None = None,
) -> Principal:
    return Principal.user(TENANT, user_id, scopes, mfa_verified_at)


def api_key(scopes: frozenset[str] = ALL_SCOPES) -> Principal:
    return Principal.api_key(TENANT, "key-1", scopes)


REQUIRED_PAIRS = [
    (operation, scope) for operation, scopes in REQUIRED_SCOPES.items() for scope in sorted(scopes)
]


# --- the scope table ------------------------------------------------------------------------


def test_every_operation_has_a_non_empty_scope_entry() -> None:
    assert set(REQUIRED_SCOPES) == set(Operation)
    assert all(REQUIRED_SCOPES[operation] for operation in Operation)


def test_the_scope_table_cannot_be_changed_at_runtime() -> None:
    with pytest.raises(TypeError):
        REQUIRED_SCOPES[Operation.PAYMENTS_READ] = frozenset()  # type: ignore[index]


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        (Operation.PAYMENT_SESSIONS_READ, {"payments:read"}),
        (Operation.PAYMENTS_READ, {"payments:read"}),
        (Operation.CHECKOUT_READ, {"payments:read"}),
        (Operation.PROVIDER_CONFIG_READ, {"payments:read"}),
        (Operation.PAYMENTS_CREATE, {"payments:write"}),
        (Operation.PAYMENTS_CANCEL, {"payments:write"}),
        (Operation.CHECKOUT_CREATE, {"payments:write"}),
        (Operation.LINKS_MANAGE, {"payments:write"}),
        (Operation.PROVIDER_CONFIG_WRITE, {"payments:write"}),
        (Operation.PAYMENTS_REFUND, {"refunds:create"}),
        (Operation.REFUNDS_CREATE, {"refunds:create"}),
        (Operation.ORDER_CHECKOUT, {"payments:write", "conversations:view"}),
        (Operation.CUSTOMER_PREFERENCES_READ, {"conversations:view"}),
        (Operation.CUSTOMER_PREFERENCES_WRITE, {"conversations:view"}),
        (Operation.CHECKOUT_OPTIONS_READ, {"conversations:view"}),
        (Operation.WALLET_READ, {"finance:view"}),
        (Operation.AUDIT_READ, {"finance:view"}),
        (Operation.RECONCILIATION_READ, {"finance:view"}),
        (Operation.WITHDRAWAL_INITIATE, {"finance:withdraw:initiate"}),
        (Operation.WITHDRAWAL_APPROVE, {"finance:withdraw:approve"}),
        (Operation.WITHDRAWAL_CANCEL, {"finance:withdraw:initiate", "finance:withdraw:approve"}),
        (Operation.API_KEYS_MANAGE, {"api_keys.manage"}),
        (Operation.WEBHOOKS_MANAGE, {"webhooks.manage"}),
    ],
    ids=lambda value: getattr(value, "name", None),
)
def test_each_operation_requires_the_documented_scopes(operation: Operation, expected: set[str]) -> None:
    assert {scope.value for scope in REQUIRED_SCOPES[operation]} == expected


def test_scope_values_are_the_published_strings() -> None:
    assert {scope.value for scope in Scope} == {
        "conversations:view",
        "finance:view",
        "finance:withdraw:initiate",
        "finance:withdraw:approve",
        "refunds:create",
        "api_keys.manage",
        "webhooks.manage",
        "payments:read",
        "payments:write",
    }


# --- require_scope --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "scope"), REQUIRED_PAIRS, ids=[f"{o.name}-{s.value}" for o, s in REQUIRED_PAIRS]
)
def test_a_principal_holding_one_required_scope_may_perform_the_operation(
    operation: Operation, scope: Scope
) -> None:
    require_scope(user(scopes=frozenset({scope.value})), operation)
    require_scope(api_key(scopes=frozenset({scope.value})), operation)


@pytest.mark.parametrize("operation", list(Operation), ids=lambda o: o.name)
def test_a_principal_holding_every_other_scope_is_refused(operation: Operation) -> None:
    required = {scope.value for scope in REQUIRED_SCOPES[operation]}
    principal = user(scopes=ALL_SCOPES - required)
    with pytest.raises(InsufficientPermissions) as raised:
        require_scope(principal, operation)
    assert raised.value.code == "INSUFFICIENT_PERMISSIONS"
    assert raised.value.details["requiredScopes"] == sorted(required)
    assert raised.value.message.startswith("Missing required scope: ")
    assert raised.value.message.removeprefix("Missing required scope: ") in required


def test_a_principal_without_any_scope_is_refused() -> None:
    with pytest.raises(InsufficientPermissions):
        require_scope(api_key(scopes=frozenset()), Operation.PAYMENTS_READ)


@pytest.mark.parametrize("scope", [Scope.FINANCE_WITHDRAW_INITIATE, Scope.FINANCE_WITHDRAW_APPROVE], ids=str)
def test_cancelling_a_withdrawal_accepts_either_withdrawal_scope(scope: Scope) -> None:
    require_scope(user(scopes=frozenset({scope.value})), Operation.WITHDRAWAL_CANCEL)


def test_cancelling_a_withdrawal_with_only_finance_view_is_refused() -> None:
    with pytest.raises(InsufficientPermissions) as raised:
        require_scope(user(scopes=frozenset({"finance:view"})), Operation.WITHDRAWAL_CANCEL)
    assert raised.value.details["requiredScopes"] == [
        "finance:withdraw:approve",
        "finance:withdraw:initiate",
    ]


def test_an_unknown_scope_string_grants_nothing() -> None:
    with pytest.raises(InsufficientPermissions):
        require_scope(user(scopes=frozenset({"payments:*", "admin"})), Operation.PAYMENTS_READ)


# --- four-eyes ------------------------------------------------------------------------------


def test_the_initiator_cannot_approve_their_own_withdrawal() -> None:
    with pytest.raises(FourEyesViolation) as raised:
        require_four_eyes(user("user-1"), initiator_subject="user-1")
    assert raised.value.code == "FOUR_EYES_VIOLATION"
    assert raised.value.details["reason"] == "same_user"
    assert raised.value.message == "Approver must be different from initiator (four-eyes approval)"


def test_an_api_key_cannot_approve_a_withdrawal_even_with_the_approve_scope() -> None:
    with pytest.raises(FourEyesViolation) as raised:
        require_four_eyes(api_key(), initiator_subject="user-1")
    assert raised.value.code == "FOUR_EYES_VIOLATION"
    assert raised.value.details["reason"] == "api_key"
    assert raised.value.message == "An API key cannot approve a withdrawal"


def test_a_different_user_with_the_approve_scope_may_approve() -> None:
    approver = user("user-2", scopes=frozenset({"finance:withdraw:approve"}))
    require_four_eyes(approver, initiator_subject="user-1")


def test_a_different_user_without_the_approve_scope_is_refused() -> None:
    approver = user("user-2", scopes=ALL_SCOPES - {"finance:withdraw:approve"})
    with pytest.raises(InsufficientPermissions) as raised:
        require_four_eyes(approver, initiator_subject="user-1")
    assert not isinstance(raised.value, FourEyesViolation)
    assert raised.value.code == "INSUFFICIENT_PERMISSIONS"
    assert raised.value.details["requiredScopes"] == ["finance:withdraw:approve"]


# --- step-up --------------------------------------------------------------------------------


def test_a_user_with_fresh_mfa_passes_step_up() -> None:
    require_step_up(user(mfa_verified_at=NOW - timedelta(seconds=10)), StepUpAction.REFUND, NOW)


def test_mfa_exactly_five_minutes_old_still_passes() -> None:
    assert timedelta(minutes=5) == MFA_FRESHNESS
    require_step_up(user(mfa_verified_at=NOW - MFA_FRESHNESS), StepUpAction.REFUND, NOW)


def test_mfa_five_minutes_and_one_second_old_is_refused() -> None:
    stale = user(mfa_verified_at=NOW - timedelta(minutes=5, seconds=1))
    with pytest.raises(MfaChallengeRequired) as raised:
        require_step_up(stale, StepUpAction.REFUND, NOW)
    assert raised.value.code == "MFA_CHALLENGE_REQUIRED"
    assert raised.value.details["action"] == "refund"
    assert raised.value.message == "MFA required"


@pytest.mark.parametrize("action", list(StepUpAction), ids=str)
def test_a_user_who_never_verified_mfa_is_refused(action: StepUpAction) -> None:
    with pytest.raises(MfaChallengeRequired) as raised:
        require_step_up(user(mfa_verified_at=None), action, NOW)
    assert raised.value.details["action"] == action.value


def test_an_mfa_verification_one_minute_in_the_future_is_refused() -> None:
    with pytest.raises(MfaChallengeRequired):
        require_step_up(user(mfa_verified_at=NOW + timedelta(minutes=1)), StepUpAction.WEBHOOKS, NOW)


def test_an_mfa_verification_within_the_clock_skew_in_the_future_passes() -> None:
    assert timedelta(seconds=30) == CLOCK_SKEW
    require_step_up(user(mfa_verified_at=NOW + CLOCK_SKEW), StepUpAction.API_KEYS, NOW)


def test_an_mfa_verification_just_beyond_the_clock_skew_is_refused() -> None:
    ahead = user(mfa_verified_at=NOW + CLOCK_SKEW + timedelta(seconds=1))
    with pytest.raises(MfaChallengeRequired):
        require_step_up(ahead, StepUpAction.API_KEYS, NOW)


def test_mfa_freshness_compares_instants_across_time_zones() -> None:
    nairobi = timezone(timedelta(hours=3))
    verified = (NOW - timedelta(minutes=4)).astimezone(nairobi)
    require_step_up(user(mfa_verified_at=verified), StepUpAction.REFUND, NOW)


def test_a_shorter_freshness_window_refuses_older_mfa() -> None:
    principal = user(mfa_verified_at=NOW - timedelta(minutes=2))
    with pytest.raises(MfaChallengeRequired):
        require_step_up(principal, StepUpAction.REFUND, NOW, freshness=timedelta(minutes=1))


def test_a_negative_freshness_window_is_refused() -> None:
    with pytest.raises(ValidationError):
        require_step_up(user(mfa_verified_at=NOW), StepUpAction.REFUND, NOW, freshness=timedelta(seconds=-1))


def test_an_api_key_may_create_a_payment_without_mfa() -> None:
    require_step_up(api_key(), StepUpAction.CREATE_PAYMENT, NOW)


@pytest.mark.parametrize(
    "action", [StepUpAction.REFUND, StepUpAction.API_KEYS, StepUpAction.WEBHOOKS], ids=str
)
def test_an_api_key_is_refused_every_other_step_up_action(action: StepUpAction) -> None:
    with pytest.raises(InsufficientPermissions) as raised:
        require_step_up(api_key(), action, NOW)
    assert raised.value.code == "INSUFFICIENT_PERMISSIONS"
    assert raised.value.details == {"reason": "user_required", "action": action.value}
    assert raised.value.message == "This action requires an authenticated user"


def test_step_up_refuses_a_naive_now() -> None:
    with pytest.raises(ValidationError) as raised:
        require_step_up(user(mfa_verified_at=NOW), StepUpAction.REFUND, NOW.replace(tzinfo=None))
    assert raised.value.code == "INVALID_PARAMETER"


def test_step_up_refuses_a_naive_now_for_api_keys_too() -> None:
    with pytest.raises(ValidationError):
        require_step_up(api_key(), StepUpAction.CREATE_PAYMENT, NOW.replace(tzinfo=None))


def test_step_up_action_values_are_the_published_strings() -> None:
    assert {action.value for action in StepUpAction} == {
        "create-payment",
        "refund",
        "api-keys",
        "webhooks",
        "provider-config",
        "reconciliation",
    }


# --- Principal ------------------------------------------------------------------------------


def test_a_user_principal_is_a_user_and_an_api_key_is_not() -> None:
    assert user().is_user
    assert user().kind is PrincipalKind.USER
    assert not api_key().is_user
    assert api_key().kind is PrincipalKind.API_KEY


def test_has_scope_reflects_the_scopes_held() -> None:
    principal = user(scopes=frozenset({"payments:read"}))
    assert principal.has_scope(Scope.PAYMENTS_READ)
    assert not principal.has_scope(Scope.PAYMENTS_WRITE)


def test_scopes_are_stored_as_a_frozenset() -> None:
    principal = Principal.user(TENANT, "user-1", ["payments:read", "payments:read"])
    assert principal.scopes == frozenset({"payments:read"})
    assert isinstance(principal.scopes, frozenset)


def test_scopes_given_as_one_bare_string_are_refused() -> None:
    with pytest.raises(ValidationError):
        Principal.user(TENANT, "user-1", "payments:read")


@pytest.mark.parametrize("tenant_id", ["", "   "], ids=["empty", "blank"])
def test_a_principal_without_a_tenant_is_refused(tenant_id: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Principal.user(tenant_id, "user-1", ALL_SCOPES)
    assert raised.value.details["field"] == "tenant_id"


@pytest.mark.parametrize("subject", ["", "   "], ids=["empty", "blank"])
def test_a_principal_without_a_subject_is_refused(subject: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Principal.api_key(TENANT, subject, ALL_SCOPES)
    assert raised.value.details["field"] == "subject"


def test_an_api_key_with_an_mfa_time_is_refused() -> None:
    with pytest.raises(ValidationError) as raised:
        Principal(TENANT, PrincipalKind.API_KEY, "key-1", ALL_SCOPES, mfa_verified_at=NOW)
    assert raised.value.details["field"] == "mfa_verified_at"


def test_a_naive_mfa_time_is_refused() -> None:
    with pytest.raises(ValidationError) as raised:
        user(mfa_verified_at=NOW.replace(tzinfo=None))
    assert raised.value.details["field"] == "mfa_verified_at"


def test_an_unknown_principal_kind_is_refused() -> None:
    with pytest.raises(ValidationError):
        Principal(TENANT, "robot", "r-1", ALL_SCOPES)  # type: ignore[arg-type]


def test_a_principal_is_immutable() -> None:
    principal = user()
    with pytest.raises(AttributeError):
        principal.tenant_id = "tenant-2"  # type: ignore[misc]
