"""MFA enrollment and step-up verification: people only, sealed secrets, one use per code, lockout."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlparse

import attrs
import pyotp
import pytest

from payments_core import PaymentsCore
from payments_core.errors import DomainError
from payments_core.policies import Principal, StepUpAction, require_step_up
from payments_core.services.api_keys import create_api_key
from payments_core.services.mfa import LOCKOUT, MAX_FAILED_ATTEMPTS, MFA_ISSUER, enroll_mfa, verify_mfa
from tests.support.core import ALL_SCOPES, T0, Core, make_core


@pytest.fixture
def core() -> Core:
    return make_core()


def code_at(secret: str, core: Core, steps: int = 0) -> str:
    """The code the person's authenticator shows now, or `steps` 30-second steps away."""
    return pyotp.TOTP(secret).at(core.clock.now() + timedelta(seconds=30 * steps))


def wrong_code(secret: str, core: Core) -> str:
    """Six digits that are none of the codes the verifier accepts now."""
    valid = {code_at(secret, core, steps) for steps in (-1, 0, 1)}
    return next(candidate for candidate in ("000000", "111111", "222222", "333333") if candidate not in valid)


def factor_of(core: Core, user: str = "alice", tenant_id: str = "t1"):
    return core.store.mfa_factors.get(tenant_id, user)


def mfa_events(core: Core, tenant_id: str = "t1") -> list[tuple[str, dict[str, object]]]:
    return [
        (event.action, dict(event.details))
        for event in core.store.audit.table.rows()
        if event.tenant_id == tenant_id and event.action.startswith("mfa.")
    ]


def refused(call, *args) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call(*args)
    return caught.value


def enrolled(core: Core, user: str = "alice") -> str:
    """Enroll and confirm `user`'s factor; the secret. The clock moves past the code's step."""
    secret = enroll_mfa(core.deps, core.user(user, mfa=False)).secret
    verify_mfa(core.deps, core.user(user, mfa=False), code_at(secret, core))
    core.clock.advance(timedelta(seconds=30))
    return secret


# --- enrolling -------------------------------------------------------------------------------------


def test_enrolling_answers_a_secret_and_its_otpauth_uri_and_stores_it_sealed(core: Core) -> None:
    enrollment = enroll_mfa(core.deps, core.user("alice", mfa=False))

    assert len(enrollment.secret) == 32
    uri = urlparse(enrollment.otpauth_uri)
    query = parse_qs(uri.query)
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert query["secret"] == [enrollment.secret]
    assert query["issuer"] == [MFA_ISSUER]
    assert unquote(uri.path) == f"/{MFA_ISSUER}:alice@t1"
    factor = factor_of(core)
    assert factor is not None
    assert (factor.created_at, factor.confirmed_at, factor.last_used_step) == (T0, None, None)
    assert enrollment.secret not in factor.sealed_secret
    assert core.deps.secret_box.open(factor.sealed_secret) == enrollment.secret
    assert mfa_events(core) == [("mfa.enrolled", {"replaced": False})]


def test_neither_the_enrollment_nor_the_factor_shows_the_secret_in_its_repr(core: Core) -> None:
    enrollment = enroll_mfa(core.deps, core.user("alice", mfa=False))

    assert enrollment.secret not in repr(enrollment)
    assert "sealed" not in repr(factor_of(core))


def test_re_enrolling_an_unconfirmed_factor_replaces_it_and_the_old_secret_stops_working(core: Core) -> None:
    alice = core.user("alice", mfa=False)
    first = enroll_mfa(core.deps, alice).secret
    second = enroll_mfa(core.deps, alice).secret

    assert first != second
    assert core.deps.secret_box.open(factor_of(core).sealed_secret) == second
    error = refused(verify_mfa, core.deps, alice, code_at(first, core))
    assert (error.code, error.details["reason"]) == ("MFA_CHALLENGE_REQUIRED", "invalid_code")
    assert verify_mfa(core.deps, alice, code_at(second, core)) == T0
    assert [action for action, _ in mfa_events(core)] == ["mfa.enrolled", "mfa.enrolled", "mfa.failed",
                                                          "mfa.verified"]  # fmt: skip
    assert mfa_events(core)[1] == ("mfa.enrolled", {"replaced": True})


def test_a_confirmed_factor_is_not_replaced_without_a_fresh_mfa(core: Core) -> None:
    secret = enrolled(core)
    before = factor_of(core)

    error = refused(enroll_mfa, core.deps, core.user("alice", mfa=False))
    assert (error.code, error.details["reason"]) == ("MFA_CHALLENGE_REQUIRED", "confirmed_factor")
    stale = Principal.user("t1", "alice", ALL_SCOPES, core.clock.now() - timedelta(minutes=6), livemode=False)
    assert refused(enroll_mfa, core.deps, stale).code == "MFA_CHALLENGE_REQUIRED"
    assert factor_of(core) == before
    assert core.deps.secret_box.open(factor_of(core).sealed_secret) == secret


def test_a_person_with_a_fresh_mfa_replaces_a_confirmed_factor_and_it_starts_unconfirmed(core: Core) -> None:
    old = enrolled(core)

    new = enroll_mfa(core.deps, core.user("alice", mfa=True)).secret

    factor = factor_of(core)
    assert (factor.confirmed_at, factor.last_used_step) == (None, None)
    assert core.deps.secret_box.open(factor.sealed_secret) == new != old
    assert mfa_events(core)[-1] == ("mfa.enrolled", {"replaced": True})


def test_an_api_key_can_neither_enroll_nor_verify_and_nothing_is_stored(core: Core) -> None:
    key = core.api_key()

    for error in (refused(enroll_mfa, core.deps, key), refused(verify_mfa, core.deps, key, "123456")):
        assert (error.code, error.details["reason"]) == ("INSUFFICIENT_PERMISSIONS", "user_required")
    assert factor_of(core, key.subject) is None
    assert mfa_events(core) == []


def test_without_a_totp_verifier_mfa_is_unavailable(core: Core) -> None:
    deps = attrs.evolve(core.deps, totp=None)

    assert refused(enroll_mfa, deps, core.user("alice")).code == "PROVIDER_UNAVAILABLE"
    assert refused(verify_mfa, deps, core.user("alice"), "123456").code == "PROVIDER_UNAVAILABLE"
    assert factor_of(core) is None


def test_the_facade_binds_the_mfa_use_cases(core: Core) -> None:
    facade = PaymentsCore(core.deps)

    secret = facade.mfa.enroll_mfa(core.user("alice", mfa=False)).secret

    assert facade.mfa.verify_mfa(core.user("alice", mfa=False), code_at(secret, core)) == T0


# --- verifying -------------------------------------------------------------------------------------


def test_the_first_right_code_confirms_the_factor_and_answers_the_verification_time(core: Core) -> None:
    secret = enroll_mfa(core.deps, core.user("alice", mfa=False)).secret
    core.clock.advance(timedelta(seconds=7))

    verified = verify_mfa(core.deps, core.user("alice", mfa=False), code_at(secret, core))

    assert verified == core.clock.now()
    factor = factor_of(core)
    assert factor.confirmed_at == verified
    assert factor.last_used_step == int(verified.timestamp()) // 30
    assert mfa_events(core)[-1] == ("mfa.verified", {"confirmed": True})


def test_a_later_verification_keeps_the_confirmation_time(core: Core) -> None:
    secret = enrolled(core)
    confirmed_at = factor_of(core).confirmed_at

    verify_mfa(core.deps, core.user("alice", mfa=False), code_at(secret, core))

    assert factor_of(core).confirmed_at == confirmed_at == T0
    assert mfa_events(core)[-1] == ("mfa.verified", {"confirmed": False})


def test_the_verification_time_is_a_fresh_step_up_for_an_api_key_creation(core: Core) -> None:
    secret = enrolled(core)
    stale = core.user("alice", mfa=False)
    assert refused(create_api_key, core.deps, stale, "ci").code == "MFA_CHALLENGE_REQUIRED"

    verified = verify_mfa(core.deps, stale, code_at(secret, core))
    stepped_up = attrs.evolve(stale, mfa_verified_at=verified)

    require_step_up(stepped_up, StepUpAction.API_KEYS, core.clock.now())
    assert create_api_key(core.deps, stepped_up, "ci").key.created_by == "alice"


def test_a_wrong_code_is_refused_audited_and_counted(core: Core) -> None:
    secret = enroll_mfa(core.deps, core.user("alice", mfa=False)).secret

    error = refused(verify_mfa, core.deps, core.user("alice", mfa=False), wrong_code(secret, core))

    assert error.code == "MFA_CHALLENGE_REQUIRED"
    assert error.details["reason"] == "invalid_code"
    factor = factor_of(core)
    assert (factor.confirmed_at, factor.last_used_step, factor.failed_attempts) == (None, None, 1)
    assert mfa_events(core)[-1] == ("mfa.failed", {"reason": "invalid_code"})


def test_a_code_is_accepted_once_and_a_replay_is_refused_even_within_its_window(core: Core) -> None:
    secret = enrolled(core)
    alice = core.user("alice", mfa=False)
    code = code_at(secret, core)
    verify_mfa(core.deps, alice, code)

    for _ in range(2):
        error = refused(verify_mfa, core.deps, alice, code)
        assert (error.code, error.details["reason"]) == ("MFA_CHALLENGE_REQUIRED", "code_already_used")
        core.clock.advance(timedelta(seconds=30))  # the spent code is still inside the drift window

    assert factor_of(core).failed_attempts == 2
    assert mfa_events(core)[-1] == ("mfa.failed", {"reason": "code_already_used"})


def test_an_older_code_after_a_newer_one_is_refused(core: Core) -> None:
    secret = enrolled(core)
    alice = core.user("alice", mfa=False)
    verify_mfa(core.deps, alice, code_at(secret, core, steps=1))  # the phone runs a step ahead

    error = refused(verify_mfa, core.deps, alice, code_at(secret, core))

    assert error.details["reason"] == "code_already_used"


def test_the_next_step_s_code_is_accepted_after_one_was_spent(core: Core) -> None:
    secret = enrolled(core)
    alice = core.user("alice", mfa=False)
    first = verify_mfa(core.deps, alice, code_at(secret, core))
    core.clock.advance(timedelta(seconds=30))

    second = verify_mfa(core.deps, alice, code_at(secret, core))

    assert second - first == timedelta(seconds=30)
    assert factor_of(core).last_used_step == int(second.timestamp()) // 30


def test_a_code_one_step_old_is_accepted_but_two_steps_old_is_not(core: Core) -> None:
    secret = enroll_mfa(core.deps, core.user("alice", mfa=False)).secret
    alice = core.user("alice", mfa=False)
    core.clock.advance(timedelta(minutes=5))
    two_old, one_old = code_at(secret, core, -2), code_at(secret, core, -1)
    if two_old in {one_old, code_at(secret, core), code_at(secret, core, 1)}:
        pytest.skip("the two codes collide (one chance in a million)")

    assert refused(verify_mfa, core.deps, alice, two_old).details["reason"] == "invalid_code"
    verify_mfa(core.deps, alice, one_old)

    assert factor_of(core).last_used_step == int(core.clock.now().timestamp()) // 30 - 1


@pytest.mark.parametrize(
    "code",
    [
        "12345",
        "1234567",
        "abcdef",
        "12 345",
        "\uff11\uff12\uff13\uff14\uff15\uff16",
        "123456\n",
        "",
        123456,
        None,
    ],
)
def test_a_malformed_code_is_invalid_and_changes_nothing(core: Core, code: object) -> None:
    enroll_mfa(core.deps, core.user("alice", mfa=False))
    before = factor_of(core)

    error = refused(verify_mfa, core.deps, core.user("alice", mfa=False), code)

    assert (error.code, error.details["field"]) == ("INVALID_PARAMETER", "code")
    assert factor_of(core) == before
    assert [action for action, _ in mfa_events(core)] == ["mfa.enrolled"]


def test_verifying_without_a_factor_says_so_and_changes_nothing(core: Core) -> None:
    error = refused(verify_mfa, core.deps, core.user("alice", mfa=False), "123456")

    assert (error.code, error.details["reason"]) == ("INVALID_OPERATION", "not_enrolled")
    assert mfa_events(core) == []


def test_a_factor_belongs_to_one_tenant(core: Core) -> None:
    secret = enrolled(core)

    error = refused(
        verify_mfa, core.deps, core.user("alice", tenant_id="t2", mfa=False), code_at(secret, core)
    )

    assert error.details["reason"] == "not_enrolled"
    assert factor_of(core, tenant_id="t2") is None
    assert mfa_events(core, "t2") == []


# --- lockout ---------------------------------------------------------------------------------------


def test_repeated_wrong_codes_lock_the_factor_even_against_the_right_code(core: Core) -> None:
    secret = enrolled(core)
    alice = core.user("alice", mfa=False)
    for _ in range(MAX_FAILED_ATTEMPTS):
        assert (
            refused(verify_mfa, core.deps, alice, wrong_code(secret, core)).details["reason"]
            == "invalid_code"
        )
    locked_until = core.clock.now() + LOCKOUT
    assert factor_of(core).locked_until == locked_until

    error = refused(verify_mfa, core.deps, alice, code_at(secret, core))

    assert (error.code, error.details["reason"]) == ("MFA_CHALLENGE_REQUIRED", "locked")
    assert error.details["lockedUntil"] == locked_until.isoformat()
    assert factor_of(core).last_used_step == int((T0).timestamp()) // 30  # the right code was not spent
    assert mfa_events(core)[-1] == (
        "mfa.failed",
        {"reason": "locked", "lockedUntil": locked_until.isoformat()},
    )


def test_after_the_lockout_the_right_code_works_and_resets_the_count(core: Core) -> None:
    secret = enrolled(core)
    alice = core.user("alice", mfa=False)
    for _ in range(MAX_FAILED_ATTEMPTS):
        refused(verify_mfa, core.deps, alice, wrong_code(secret, core))
    core.clock.advance(LOCKOUT)

    verify_mfa(core.deps, alice, code_at(secret, core))

    factor = factor_of(core)
    assert (factor.failed_attempts, factor.locked_until) == (0, None)


def test_a_right_code_before_the_limit_resets_the_count(core: Core) -> None:
    secret = enrolled(core)
    alice = core.user("alice", mfa=False)
    for _ in range(MAX_FAILED_ATTEMPTS - 1):
        refused(verify_mfa, core.deps, alice, wrong_code(secret, core))

    verify_mfa(core.deps, alice, code_at(secret, core))
    refused(verify_mfa, core.deps, alice, wrong_code(secret, core))

    assert factor_of(core).failed_attempts == 1
    assert factor_of(core).locked_until is None


# --- secrecy ---------------------------------------------------------------------------------------


def test_no_audit_event_carries_the_secret_or_a_code(core: Core) -> None:
    secret = enroll_mfa(core.deps, core.user("alice", mfa=False)).secret
    alice = core.user("alice", mfa=False)
    bad = wrong_code(secret, core)
    good = code_at(secret, core)
    refused(verify_mfa, core.deps, alice, bad)
    verify_mfa(core.deps, alice, good)
    refused(verify_mfa, core.deps, alice, good)

    events = mfa_events(core)
    assert len(events) == 4
    written = [str(value) for _, details in events for value in details.values()]
    for needle in (secret, bad, good):
        assert not any(needle in value for value in written)
    assert all(
        event.target_id == "alice"
        for event in core.store.audit.table.rows()
        if event.action.startswith("mfa.")
    )
