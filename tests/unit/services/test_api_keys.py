"""API keys (seed 003 `keys:create` / `keys:revoke`): shown once, stored hashed, scoped, revocable."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import attrs
import pytest

from payments_core.errors import DomainError
from payments_core.policies import PrincipalKind, Scope
from payments_core.services.api_keys import (
    DEFAULT_KEY_SCOPES,
    authenticate_api_key,
    create_api_key,
    list_api_keys,
    revoke_api_key,
)
from tests.support.core import ALL_SCOPES, T0, Core, make_core

DEFAULTS = frozenset(scope.value for scope in DEFAULT_KEY_SCOPES)


@pytest.fixture
def core() -> Core:
    return make_core()


def code_of(excinfo: pytest.ExceptionInfo[DomainError]) -> str:
    return excinfo.value.code


def stored_keys(core: Core) -> list[object]:
    return list(core.store.api_keys.table.rows())


def audit_actions(core: Core, tenant_id: str = "t1") -> list[str]:
    return [event.action for event in core.store.audit.table.rows() if event.tenant_id == tenant_id]


# --- creating --------------------------------------------------------------------------------


def test_a_created_key_answers_the_seed_fields_and_a_test_secret_for_a_test_mode_user(core: Core) -> None:
    created = create_api_key(core.deps, core.user("alice"), "Production Server")

    assert created.name == "Production Server"
    assert created.prefix == "sk_test"
    assert created.secret.startswith("sk_test_")
    assert len(created.secret) > len("sk_test_") + 20
    assert created.created_at == T0
    assert created.id == created.key.id
    assert created.key.livemode is False
    assert created.key.created_by == "alice"


def test_a_live_user_gets_a_live_key_by_default(core: Core) -> None:
    created = create_api_key(core.deps, core.user("lily", livemode=True), "Live server")

    assert created.prefix == "sk_live"
    assert created.secret.startswith("sk_live_")
    assert created.key.livemode is True


def test_a_live_user_may_create_a_test_key(core: Core) -> None:
    created = create_api_key(core.deps, core.user("lily", livemode=True), "CI", livemode=False)

    assert created.secret.startswith("sk_test_")
    assert created.key.livemode is False


def test_a_test_mode_user_cannot_create_a_live_key_and_nothing_is_stored(core: Core) -> None:
    with pytest.raises(DomainError) as excinfo:
        create_api_key(core.deps, core.user("alice"), "Sneaky", livemode=True)

    assert code_of(excinfo) == "INSUFFICIENT_PERMISSIONS"
    assert stored_keys(core) == []
    assert audit_actions(core) == []


def test_the_secret_is_shown_only_in_the_creation_result_not_in_its_repr(core: Core) -> None:
    created = create_api_key(core.deps, core.user("alice"), "Server")

    assert created.secret not in repr(created)


def test_the_repository_keeps_only_the_hash_last4_and_prefix_of_the_secret(core: Core) -> None:
    created = create_api_key(core.deps, core.user("alice"), "Server")
    token = created.secret.removeprefix("sk_test_")

    [stored] = core.store.api_keys.table.rows()
    for name, value in attrs.asdict(stored).items():
        assert token not in str(value), f"the secret leaked into ApiKey.{name}"
    assert stored.secret_hash == hashlib.sha256(created.secret.encode()).hexdigest()
    assert stored.last4 == created.secret[-4:]
    assert stored.prefix == "sk_test"


def test_creating_a_key_is_audited_without_the_secret(core: Core) -> None:
    created = create_api_key(core.deps, core.user("alice"), "Server")
    token = created.secret.removeprefix("sk_test_")

    [event] = core.store.audit.table.rows()
    assert event.action == "api_key.created"
    assert event.target_id == created.id
    assert event.actor_id == "alice"
    assert event.tenant_id == "t1"
    assert token not in repr(event)


# --- scopes ----------------------------------------------------------------------------------


def test_default_scopes_are_the_default_set_for_a_creator_holding_everything(core: Core) -> None:
    created = create_api_key(core.deps, core.user("alice"), "Server")

    assert created.key.scopes == DEFAULTS
    assert created.key.scopes == {"payments:read", "payments:write", "conversations:view", "finance:view"}


def test_default_scopes_are_cut_down_to_the_creators_own(core: Core) -> None:
    creator = core.user("carol", scopes=[Scope.API_KEYS_MANAGE, Scope.PAYMENTS_READ])

    created = create_api_key(core.deps, creator, "Read only")

    assert created.key.scopes == {"payments:read"}


def test_requested_scopes_within_the_creators_are_granted_exactly(core: Core) -> None:
    created = create_api_key(
        core.deps, core.user("alice"), "Refunder", scopes=["refunds:create", "payments:read"]
    )

    assert created.key.scopes == {"refunds:create", "payments:read"}


def test_requesting_a_scope_the_creator_lacks_is_refused_and_names_it(core: Core) -> None:
    creator = core.user("carol", scopes=[Scope.API_KEYS_MANAGE, Scope.PAYMENTS_READ])

    with pytest.raises(DomainError) as excinfo:
        create_api_key(
            core.deps,
            creator,
            "Escalation",
            scopes=["payments:read", "finance:withdraw:approve", "refunds:create"],
        )

    assert code_of(excinfo) == "INSUFFICIENT_PERMISSIONS"
    assert excinfo.value.details["scopes"] == ["finance:withdraw:approve", "refunds:create"]
    assert stored_keys(core) == []


@pytest.mark.parametrize(
    "scopes",
    [["payments:admin"], ["payments:read", "PAYMENTS:READ"], [""], [42], "payments:read", [], 7],
    ids=["unknown", "wrong-case", "blank", "not-a-string", "bare-string", "empty", "not-a-list"],
)
def test_malformed_scope_requests_are_refused_and_nothing_is_stored(core: Core, scopes: object) -> None:
    with pytest.raises(DomainError) as excinfo:
        create_api_key(core.deps, core.user("alice"), "Server", scopes=scopes)  # type: ignore[arg-type]

    assert code_of(excinfo) == "INVALID_PARAMETER"
    assert excinfo.value.details["field"] == "scopes"
    assert stored_keys(core) == []


def test_a_creator_holding_none_of_the_default_scopes_must_name_scopes(core: Core) -> None:
    creator = core.user("carol", scopes=[Scope.API_KEYS_MANAGE, Scope.REFUNDS_CREATE])

    with pytest.raises(DomainError) as excinfo:
        create_api_key(core.deps, creator, "Nothing")

    assert code_of(excinfo) == "INVALID_PARAMETER"
    assert create_api_key(core.deps, creator, "Refunds", scopes=["refunds:create"]).key.scopes == {
        "refunds:create"
    }


# --- input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, None, 42, "bad\x00name"])
def test_a_missing_blank_over_long_or_non_string_name_is_refused(core: Core, name: object) -> None:
    with pytest.raises(DomainError) as excinfo:
        create_api_key(core.deps, core.user("alice"), name)  # type: ignore[arg-type]

    assert code_of(excinfo) == "INVALID_PARAMETER"
    assert excinfo.value.details["field"] == "name"
    assert stored_keys(core) == []
    assert audit_actions(core) == []


def test_a_name_of_exactly_100_characters_is_accepted_and_surrounding_spaces_trimmed(core: Core) -> None:
    assert create_api_key(core.deps, core.user("alice"), "x" * 100).name == "x" * 100
    assert create_api_key(core.deps, core.user("alice"), "  Server  ").name == "Server"


@pytest.mark.parametrize("livemode", ["true", 1, 0])
def test_a_non_boolean_livemode_is_refused(core: Core, livemode: object) -> None:
    with pytest.raises(DomainError) as excinfo:
        create_api_key(core.deps, core.user("lily", livemode=True), "Server", livemode=livemode)  # type: ignore[arg-type]

    assert code_of(excinfo) == "INVALID_PARAMETER"
    assert stored_keys(core) == []


# --- who may --------------------------------------------------------------------------------


def test_a_user_without_mfa_cannot_create_a_key(core: Core) -> None:
    with pytest.raises(DomainError) as excinfo:
        create_api_key(core.deps, core.user("bob", mfa=False), "Server")

    assert code_of(excinfo) == "MFA_CHALLENGE_REQUIRED"
    assert excinfo.value.details["action"] == "api-keys"
    assert stored_keys(core) == []


def test_a_user_whose_mfa_is_stale_cannot_create_a_key(core: Core) -> None:
    alice = core.user("alice")
    core.clock.advance(timedelta(minutes=6))

    with pytest.raises(DomainError) as excinfo:
        create_api_key(core.deps, alice, "Server")

    assert code_of(excinfo) == "MFA_CHALLENGE_REQUIRED"


def test_a_user_without_mfa_cannot_revoke_a_key(core: Core) -> None:
    created = create_api_key(core.deps, core.user("alice"), "Server")

    with pytest.raises(DomainError) as excinfo:
        revoke_api_key(core.deps, core.user("bob", mfa=False), created.id)

    assert code_of(excinfo) == "MFA_CHALLENGE_REQUIRED"
    assert authenticate_api_key(core.deps, created.secret).subject == created.id


def test_an_api_key_cannot_create_a_key_even_with_the_manage_scope(core: Core) -> None:
    with pytest.raises(DomainError) as excinfo:
        create_api_key(core.deps, core.api_key(), "Child key")

    assert code_of(excinfo) == "INSUFFICIENT_PERMISSIONS"
    assert stored_keys(core) == []


def test_an_api_key_cannot_revoke_a_key(core: Core) -> None:
    created = create_api_key(core.deps, core.user("alice"), "Server")

    with pytest.raises(DomainError) as excinfo:
        revoke_api_key(core.deps, core.api_key(), created.id)

    assert code_of(excinfo) == "INSUFFICIENT_PERMISSIONS"
    assert core.store.api_keys.get("t1", created.id).is_active  # type: ignore[union-attr]


def test_without_the_manage_scope_no_key_can_be_created_revoked_or_listed(core: Core) -> None:
    created = create_api_key(core.deps, core.user("alice"), "Server")
    viewer = core.user("vic", scopes=ALL_SCOPES - {Scope.API_KEYS_MANAGE.value})

    for attempt in (
        lambda: create_api_key(core.deps, viewer, "Server"),
        lambda: revoke_api_key(core.deps, viewer, created.id),
        lambda: list_api_keys(core.deps, viewer),
    ):
        with pytest.raises(DomainError) as excinfo:
            attempt()
        assert code_of(excinfo) == "INSUFFICIENT_PERMISSIONS"
        assert excinfo.value.details["requiredScopes"] == ["api_keys.manage"]


# --- authenticating --------------------------------------------------------------------------


def test_a_created_secret_authenticates_as_its_key_tenant_scopes_and_mode(core: Core) -> None:
    created = create_api_key(core.deps, core.user("alice"), "Server", scopes=["payments:read"])

    principal = authenticate_api_key(core.deps, created.secret)

    assert principal.kind is PrincipalKind.API_KEY
    assert principal.tenant_id == "t1"
    assert principal.subject == created.id
    assert principal.scopes == {"payments:read"}
    assert principal.livemode is False
    assert principal.mfa_verified_at is None


def test_a_live_secret_authenticates_in_live_mode(core: Core) -> None:
    created = create_api_key(core.deps, core.user("lily", livemode=True), "Live")

    assert authenticate_api_key(core.deps, created.secret).livemode is True


def test_each_tenants_secret_authenticates_into_its_own_tenant(core: Core) -> None:
    first = create_api_key(core.deps, core.user("alice"), "One")
    second = create_api_key(core.deps, core.user("tom", tenant_id="t2"), "Two")

    assert authenticate_api_key(core.deps, first.secret).tenant_id == "t1"
    assert authenticate_api_key(core.deps, second.secret).tenant_id == "t2"


def test_a_revoked_key_no_longer_authenticates(core: Core) -> None:
    created = create_api_key(core.deps, core.user("alice"), "Server")
    revoke_api_key(core.deps, core.user("alice"), created.id)

    with pytest.raises(DomainError) as excinfo:
        authenticate_api_key(core.deps, created.secret)

    assert code_of(excinfo) == "UNAUTHENTICATED"


def test_unknown_and_revoked_keys_fail_with_the_same_code_and_message(core: Core) -> None:
    created = create_api_key(core.deps, core.user("alice"), "Server")
    revoke_api_key(core.deps, core.user("alice"), created.id)
    unknown = "sk_test_" + "A" * 32

    failures = []
    for secret in (created.secret, unknown):
        with pytest.raises(DomainError) as excinfo:
            authenticate_api_key(core.deps, secret)
        failures.append((excinfo.value.code, excinfo.value.message, dict(excinfo.value.details)))

    assert failures[0] == failures[1]
    assert failures[0][0] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "sk_test_",
        "sk_test_short",
        "pk_test_" + "A" * 32,
        "sk_prod_" + "A" * 32,
        "sk_test_" + "A" * 32 + " ",
        "Bearer sk_test_" + "A" * 32,
        "sk_test_" + "A" * 300,
        None,
        12345,
    ],
    ids=[
        "empty",
        "prefix-only",
        "too-short",
        "publishable",
        "unknown-mode",
        "trailing-space",
        "with-scheme",
        "too-long",
        "none",
        "int",
    ],
)
def test_a_malformed_secret_fails_like_an_unknown_one(core: Core, secret: object) -> None:
    with pytest.raises(DomainError) as excinfo:
        authenticate_api_key(core.deps, secret)  # type: ignore[arg-type]

    assert code_of(excinfo) == "UNAUTHENTICATED"
    assert excinfo.value.message == "invalid or revoked API key"


def test_a_secret_with_one_character_changed_does_not_authenticate(core: Core) -> None:
    created = create_api_key(core.deps, core.user("alice"), "Server")
    last = created.secret[-1]
    altered = created.secret[:-1] + ("B" if last != "B" else "C")

    with pytest.raises(DomainError) as excinfo:
        authenticate_api_key(core.deps, altered)

    assert code_of(excinfo) == "UNAUTHENTICATED"


# --- revoking --------------------------------------------------------------------------------


def test_revoking_sets_the_revocation_time_and_is_audited(core: Core) -> None:
    created = create_api_key(core.deps, core.user("alice"), "Server")
    core.clock.advance(timedelta(minutes=1))

    revoked = revoke_api_key(core.deps, core.user("alice"), created.id)

    assert revoked.revoked_at == T0 + timedelta(minutes=1)
    assert not revoked.is_active
    assert core.store.api_keys.get("t1", created.id) == revoked
    assert audit_actions(core) == ["api_key.created", "api_key.revoked"]


def test_revoking_twice_answers_the_first_revocation_unchanged(core: Core) -> None:
    created = create_api_key(core.deps, core.user("alice"), "Server")
    first = revoke_api_key(core.deps, core.user("alice"), created.id)
    core.clock.advance(timedelta(minutes=2))

    second = revoke_api_key(core.deps, core.user("alice"), created.id)

    assert second == first
    assert second.revoked_at == T0
    assert audit_actions(core).count("api_key.revoked") == 1


def test_another_tenant_cannot_revoke_the_key_and_it_keeps_working(core: Core) -> None:
    created = create_api_key(core.deps, core.user("alice"), "Server")

    with pytest.raises(DomainError) as excinfo:
        revoke_api_key(core.deps, core.user("tom", tenant_id="t2"), created.id)

    assert code_of(excinfo) == "RESOURCE_NOT_FOUND"
    assert authenticate_api_key(core.deps, created.secret).tenant_id == "t1"
    assert audit_actions(core, "t2") == []


def test_revoking_an_unknown_key_is_not_found(core: Core) -> None:
    with pytest.raises(DomainError) as excinfo:
        revoke_api_key(core.deps, core.user("alice"), "key_999999")

    assert code_of(excinfo) == "RESOURCE_NOT_FOUND"


@pytest.mark.parametrize("key_id", ["", None, "k" * 101])
def test_revoking_with_a_malformed_key_id_is_refused(core: Core, key_id: object) -> None:
    with pytest.raises(DomainError) as excinfo:
        revoke_api_key(core.deps, core.user("alice"), key_id)  # type: ignore[arg-type]

    assert code_of(excinfo) == "INVALID_PARAMETER"


# --- listing ---------------------------------------------------------------------------------


def test_listing_shows_the_tenants_keys_revoked_included_oldest_first(core: Core) -> None:
    first = create_api_key(core.deps, core.user("alice"), "First")
    core.clock.advance(timedelta(seconds=1))
    second = create_api_key(core.deps, core.user("alice"), "Second")
    revoke_api_key(core.deps, core.user("alice"), first.id)

    listed = list_api_keys(core.deps, core.user("alice"))

    assert [key.id for key in listed] == [first.id, second.id]
    assert [key.is_active for key in listed] == [False, True]


def test_listing_shows_no_other_tenants_keys(core: Core) -> None:
    create_api_key(core.deps, core.user("alice"), "First")

    assert list_api_keys(core.deps, core.user("tom", tenant_id="t2")) == []


def test_listing_needs_no_step_up(core: Core) -> None:
    created = create_api_key(core.deps, core.user("alice"), "First")

    assert [key.id for key in list_api_keys(core.deps, core.user("bob", mfa=False))] == [created.id]
