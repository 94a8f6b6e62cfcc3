"""Provider configuration (seed 000 POST/PATCH, seed 001 GET): settings shown, secrets sealed and masked."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from payments_core.errors import DomainError, InsufficientPermissions, MfaChallengeRequired
from payments_core.policies import Scope
from payments_core.services.provider_config import (
    SCHEMAS,
    ProviderConfigView,
    config_by_url_id,
    get_provider_config,
    mask,
    provider_secret,
    register_provider_config,
    update_provider_config,
)
from tests.support.core import ALL_SCOPES, T0, Core, make_core

TOKEN = "APP_USR-xxxx-xxxx-xxxx-1234"
NEW_TOKEN = "APP_USR-yyyy-yyyy-yyyy-5678"
WEBHOOK_SECRET = "optional-secret"
SEED_000 = {
    "access_token": TOKEN,
    "webhook_secret": WEBHOOK_SECRET,
    "mp_user_id": "optional-mp-user-id",
    "mp_application_id": "optional-mp-app-id",
    "mp_public_key": "APP_PUB-xxxx-xxxx-xxxx-xxx",
}
SEED_001 = {
    "access_token": TOKEN,
    "mp_public_key": "APP_USR-xxxxx-xxxxx",
    "country": "CO",
    "currency": "COP",
    "payment_methods_enabled": ["credit_card", "debit_card", "pse", "cash"],
}


@pytest.fixture
def core() -> Core:
    return make_core()


def register(
    core: Core, values: dict[str, object] | None = None, provider: str = "mercadopago", **kw: str
) -> ProviderConfigView:
    return register_provider_config(core.deps, core.user("alice", **kw), provider, values or SEED_000)


def stored_configs(core: Core) -> list[object]:
    return list(core.store.provider_configs.table.rows())


def audit_events(core: Core, tenant_id: str = "t1") -> list[object]:
    return [event for event in core.store.audit.table.rows() if event.tenant_id == tenant_id]


# --- masks -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "masked"),
    [
        ("APP_USR-xxxx-xxxx-xxxx-1234", "APP_USR-…1234"),
        ("TEST-1234567890123456-031416-abcd", "TEST-…abcd"),
        ("sk_live_51HqLyjWDarjtT1zdp7dc", "sk_live_…p7dc"),
        ("whsec_abcdefghijklmnop_WXYZ", "whsec_…WXYZ"),
        ("optional-secret", "…cret"),
        ("0123456789abcdef0123", "…0123"),
        ("short-one", "••••"),
        ("sk_test_abcd", "sk_test_••••"),
        ("sk_test_abcdefghij", "sk_test_••••"),
    ],
)
def test_a_mask_keeps_a_recognised_prefix_and_at_most_the_last_four_characters(
    secret: str, masked: str
) -> None:
    assert mask(secret) == masked


def test_a_mask_never_reveals_a_free_form_first_word() -> None:
    assert mask("hunter2-is-my-password") == "…word"


# --- register and read -----------------------------------------------------------------------


def test_registering_the_seed_000_body_answers_settings_and_masked_secrets(core: Core) -> None:
    view = register(core)

    assert view.tenant_id == "t1"
    assert view.provider == "mercadopago"
    assert view.secrets == {"access_token": "APP_USR-…1234", "webhook_secret": "…cret"}
    assert view.settings["mp_user_id"] == "optional-mp-user-id"
    assert view.settings["mp_application_id"] == "optional-mp-app-id"
    assert view.public_key == "APP_PUB-xxxx-xxxx-xxxx-xxx"
    assert view.created_at == view.updated_at == T0
    assert view.unique_id == view.id


def test_the_view_never_holds_a_plaintext_secret(core: Core) -> None:
    view = register(core)

    assert TOKEN not in repr(view)
    assert WEBHOOK_SECRET not in repr(view)


def test_the_view_carries_the_seed_001_attributes(core: Core) -> None:
    view = register(core, SEED_001)

    assert view.public_key == "APP_USR-xxxxx-xxxxx"
    assert view.country == "CO"
    assert view.currency == "COP"
    assert view.sandbox_mode is False
    assert view.payment_methods_enabled == ("credit_card", "debit_card", "pse", "cash")


def test_the_inbound_webhook_path_is_built_from_an_unguessable_url_id(core: Core) -> None:
    view = register(core)
    [stored] = core.store.provider_configs.table.rows()

    assert view.webhook_path == f"/api/v1/mercadopago/{stored.url_id}/webhook"
    assert stored.url_id.startswith("wh_")


def test_reading_back_answers_the_same_masked_view(core: Core) -> None:
    registered = register(core)

    assert get_provider_config(core.deps, core.user("alice"), "mercadopago") == registered


def test_a_test_access_token_puts_the_config_in_sandbox_mode(core: Core) -> None:
    view = register(core, {"access_token": "TEST-1234567890123456-031416-abcd"})

    assert view.sandbox_mode is True
    assert view.secrets["access_token"] == "TEST-…abcd"


def test_an_explicit_sandbox_mode_wins_over_the_token(core: Core) -> None:
    view = register(core, {"access_token": TOKEN, "sandbox_mode": True})

    assert view.sandbox_mode is True


# --- sealed at rest --------------------------------------------------------------------------


def test_the_repository_holds_sealed_values_never_the_plaintext(core: Core) -> None:
    register(core)

    [stored] = core.store.provider_configs.table.rows()
    for name, value in attrs.asdict(stored).items():
        assert TOKEN not in repr(value), f"the access token leaked into ProviderConfig.{name}"
        assert WEBHOOK_SECRET not in repr(value), f"the webhook secret leaked into ProviderConfig.{name}"
    assert set(stored.sealed_secrets) == {"access_token", "webhook_secret"}
    assert core.deps.secret_box.open(stored.sealed_secrets["access_token"]) == TOKEN


def test_provider_secret_opens_the_sealed_secret_for_an_adapter(core: Core) -> None:
    register(core)

    assert provider_secret(core.deps, "t1", "mercadopago", "access_token") == TOKEN
    assert provider_secret(core.deps, "t1", "mercadopago", "webhook_secret") == WEBHOOK_SECRET


def test_provider_secret_is_none_when_nothing_is_configured_or_the_secret_is_unset(core: Core) -> None:
    assert provider_secret(core.deps, "t1", "mercadopago", "access_token") is None

    register(core, {"access_token": TOKEN})

    assert provider_secret(core.deps, "t1", "mercadopago", "webhook_secret") is None


@pytest.mark.parametrize(
    ("provider", "name"), [("mercadopago", "mp_user_id"), ("mercadopago", "nope"), ("acme", "x")]
)
def test_provider_secret_refuses_a_name_that_is_not_a_secret(core: Core, provider: str, name: str) -> None:
    register(core)

    with pytest.raises(DomainError) as excinfo:
        provider_secret(core.deps, "t1", provider, name)

    assert excinfo.value.code == "INVALID_PARAMETER"


def test_registering_and_updating_are_audited_with_field_names_never_values(core: Core) -> None:
    register(core)
    update_provider_config(core.deps, core.user("alice"), "mercadopago", {"access_token": NEW_TOKEN})

    registered, updated = sorted(audit_events(core), key=lambda event: event.id)
    assert registered.action == "provider_config.registered"
    assert registered.details["fields"] == sorted(SEED_000)
    assert updated.action == "provider_config.updated"
    assert updated.details["fields"] == ["access_token"]
    for event in (registered, updated):
        for secret in (TOKEN, NEW_TOKEN, WEBHOOK_SECRET, "optional-mp-user-id"):
            assert secret not in repr(event)


# --- update (PATCH) --------------------------------------------------------------------------


def test_patch_changes_only_the_given_fields(core: Core) -> None:
    before = register(core)
    core.clock.advance(timedelta(minutes=3))

    after = update_provider_config(
        core.deps,
        core.user("alice"),
        "mercadopago",
        {"access_token": NEW_TOKEN, "mp_public_key": "APP_PUB-new"},
    )

    assert after.secrets == {"access_token": "APP_USR-…5678", "webhook_secret": "…cret"}
    assert after.public_key == "APP_PUB-new"
    assert after.settings["mp_user_id"] == before.settings["mp_user_id"]
    assert after.settings["mp_application_id"] == before.settings["mp_application_id"]
    assert (after.id, after.webhook_path, after.created_at) == (before.id, before.webhook_path, T0)
    assert after.updated_at == T0 + timedelta(minutes=3)
    assert provider_secret(core.deps, "t1", "mercadopago", "access_token") == NEW_TOKEN
    assert provider_secret(core.deps, "t1", "mercadopago", "webhook_secret") == WEBHOOK_SECRET


def test_patch_with_none_clears_an_optional_field(core: Core) -> None:
    register(core)

    after = update_provider_config(
        core.deps, core.user("alice"), "mercadopago", {"webhook_secret": None, "mp_user_id": None}
    )

    assert "webhook_secret" not in after.secrets
    assert "mp_user_id" not in after.settings
    assert provider_secret(core.deps, "t1", "mercadopago", "webhook_secret") is None


@pytest.mark.parametrize("field", ["access_token", "sandbox_mode"])
def test_patch_cannot_clear_a_required_or_defaulted_field(core: Core, field: str) -> None:
    before = register(core)

    with pytest.raises(DomainError) as excinfo:
        update_provider_config(core.deps, core.user("alice"), "mercadopago", {field: None})

    assert excinfo.value.code == "INVALID_PARAMETER"
    assert excinfo.value.details["field"] == field
    assert get_provider_config(core.deps, core.user("alice"), "mercadopago") == before


def test_patching_the_access_token_re_derives_sandbox_mode(core: Core) -> None:
    register(core)

    after = update_provider_config(
        core.deps, core.user("alice"), "mercadopago", {"access_token": "TEST-9999999999999999-000000-wxyz"}
    )

    assert after.sandbox_mode is True


def test_an_empty_patch_is_refused(core: Core) -> None:
    register(core)

    with pytest.raises(DomainError) as excinfo:
        update_provider_config(core.deps, core.user("alice"), "mercadopago", {})

    assert excinfo.value.code == "INVALID_PARAMETER"


def test_patching_a_configuration_that_does_not_exist_is_not_found(core: Core) -> None:
    with pytest.raises(DomainError) as excinfo:
        update_provider_config(core.deps, core.user("alice"), "mercadopago", {"access_token": NEW_TOKEN})

    assert excinfo.value.code == "RESOURCE_NOT_FOUND"
    assert stored_configs(core) == []


# --- register again (POST when one exists) ---------------------------------------------------


def test_registering_again_replaces_everything_but_keeps_id_webhook_url_and_creation_time(core: Core) -> None:
    before = register(core)
    core.clock.advance(timedelta(hours=1))

    after = register(core, {"access_token": NEW_TOKEN, "country": "AR"})

    assert (after.id, after.webhook_path, after.created_at) == (before.id, before.webhook_path, T0)
    assert after.updated_at == T0 + timedelta(hours=1)
    assert after.secrets == {"access_token": "APP_USR-…5678"}
    assert "mp_user_id" not in after.settings
    assert after.country == "AR"
    assert provider_secret(core.deps, "t1", "mercadopago", "webhook_secret") is None
    assert len(stored_configs(core)) == 1
    assert audit_events(core)[-1].details["replaced"] is True


def test_registering_the_same_body_twice_leaves_the_same_configuration(core: Core) -> None:
    first = register(core)
    second = register(core)

    assert second == first
    assert provider_secret(core.deps, "t1", "mercadopago", "access_token") == TOKEN


# --- refused input ---------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["acme", "sandbox", "MercadoPago", "", None])
def test_an_unknown_provider_is_refused_with_the_allowed_values(core: Core, provider: object) -> None:
    with pytest.raises(DomainError) as excinfo:
        register_provider_config(core.deps, core.user("alice"), provider, SEED_000)  # type: ignore[arg-type]

    assert excinfo.value.code == "INVALID_PARAMETER"
    assert excinfo.value.details["field"] == "provider"
    assert excinfo.value.details["allowedValues"] == ["mercadopago", "mpesa", "paystack", "pesapal", "stripe"]
    assert stored_configs(core) == []


def test_an_unknown_field_is_refused_and_named(core: Core) -> None:
    with pytest.raises(DomainError) as excinfo:
        register(core, {**SEED_000, "client_secret": "abc"})

    assert excinfo.value.code == "INVALID_PARAMETER"
    assert excinfo.value.details["field"] == "client_secret"
    assert "access_token" in excinfo.value.details["allowedValues"]
    assert stored_configs(core) == []


def test_an_unknown_field_in_a_patch_changes_nothing(core: Core) -> None:
    before = register(core)

    with pytest.raises(DomainError) as excinfo:
        update_provider_config(
            core.deps,
            core.user("alice"),
            "mercadopago",
            {"access_token": NEW_TOKEN, "secret_key": "sk_test_x"},
        )

    assert excinfo.value.details["field"] == "secret_key"
    assert get_provider_config(core.deps, core.user("alice"), "mercadopago") == before
    assert provider_secret(core.deps, "t1", "mercadopago", "access_token") == TOKEN


@pytest.mark.parametrize(
    "token",
    [
        "NEW_APP_USR-xxxx-xxxx-xxxx-xxx",
        "sk_test_abcdefghijklmnop",
        "app_usr-xxxx-xxxx",
        "APP_USR- xxxx",
        "",
        1234,
    ],
)
def test_an_access_token_without_a_mercadopago_prefix_is_refused(core: Core, token: object) -> None:
    with pytest.raises(DomainError) as excinfo:
        register(core, {"access_token": token})

    assert excinfo.value.code == "INVALID_PARAMETER"
    assert excinfo.value.details["field"] == "access_token"
    if isinstance(token, str) and token:
        assert token not in excinfo.value.message
    assert stored_configs(core) == []


def test_a_missing_access_token_is_refused(core: Core) -> None:
    with pytest.raises(DomainError) as excinfo:
        register(core, {"mp_user_id": "123"})

    assert excinfo.value.code == "INVALID_PARAMETER"
    assert excinfo.value.details["missing"] == ["access_token"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sandbox_mode", "true"),
        ("sandbox_mode", 1),
        ("country", "US"),
        ("country", "co"),
        ("currency", "XXX"),
        ("currency", 170),
        ("payment_methods_enabled", "pse"),
        ("payment_methods_enabled", ["pse", 3]),
        ("payment_methods_enabled", ["Credit Card"]),
        ("payment_methods_enabled", ["pse"] * 21),
        ("mp_user_id", ""),
        ("mp_user_id", "x" * 257),
        ("mp_user_id", 12345),
        ("webhook_secret", "has space"),
        ("webhook_secret", "x" * 1025),
    ],
)
def test_wrong_types_and_values_are_refused_and_nothing_is_stored(
    core: Core, field: str, value: object
) -> None:
    with pytest.raises(DomainError) as excinfo:
        register(core, {"access_token": TOKEN, field: value})

    assert excinfo.value.code == "INVALID_PARAMETER"
    assert excinfo.value.details["field"] == field
    assert stored_configs(core) == []
    assert audit_events(core) == []


def test_a_body_that_is_not_an_object_is_refused(core: Core) -> None:
    with pytest.raises(DomainError) as excinfo:
        register(core, ["access_token", TOKEN])  # type: ignore[arg-type]

    assert excinfo.value.code == "INVALID_PARAMETER"


def test_duplicate_payment_methods_are_kept_once(core: Core) -> None:
    view = register(core, {"access_token": TOKEN, "payment_methods_enabled": ["pse", "cash", "pse"]})

    assert view.payment_methods_enabled == ("pse", "cash")


# --- the other providers ---------------------------------------------------------------------


def test_every_schema_has_at_least_one_required_secret() -> None:
    for provider, schema in SCHEMAS.items():
        assert any(spec.secret and spec.required for spec in schema.fields.values()), provider


def test_stripe_keys_are_checked_by_prefix_and_masked_with_it(core: Core) -> None:
    view = register(
        core,
        {"secret_key": "sk_test_51Hq0000000000000000aBcD", "webhook_secret": "whsec_0000000000000000WXYZ",
         "publishable_key": "pk_test_51Hq"},
        provider="stripe",
    )  # fmt: skip

    assert view.secrets == {"secret_key": "sk_test_…aBcD", "webhook_secret": "whsec_…WXYZ"}
    assert view.public_key == "pk_test_51Hq"
    assert view.webhook_path.startswith("/api/v1/stripe/")
    assert view.sandbox_mode is None


@pytest.mark.parametrize(
    ("field", "value"),
    [("secret_key", "pk_test_51Hq0000000000"), ("webhook_secret", "sk_test_000000000000000"),
     ("publishable_key", "sk_test_51Hq")],
)  # fmt: skip
def test_stripe_refuses_a_key_in_the_wrong_field(core: Core, field: str, value: str) -> None:
    values = {"secret_key": "sk_test_51Hq0000000000000000aBcD", field: value}

    with pytest.raises(DomainError) as excinfo:
        register(core, values, provider="stripe")

    assert excinfo.value.details["field"] == field


def test_a_stripe_restricted_key_is_accepted(core: Core) -> None:
    view = register(core, {"secret_key": "rk_live_51Hq0000000000000000aBcD"}, provider="stripe")

    assert view.secrets["secret_key"] == "rk_live_…aBcD"


MPESA = {
    "consumer_key": "GvzjNnYgNJtwgwfLBkZh65VPwfuKvs0V",
    "consumer_secret": "oOpJICRVlyrGSAkM",
    "passkey": "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
    "security_credential": "Q" * 344,
    "shortcode": "174379",
    "initiator_name": "testapi",
    "environment": "sandbox",
}


def test_mpesa_registers_its_credentials_and_masks_each(core: Core) -> None:
    view = register(core, MPESA, provider="mpesa")

    assert view.settings == {"shortcode": "174379", "initiator_name": "testapi", "environment": "sandbox"}
    assert view.secrets["consumer_secret"] == "…SAkM"
    assert view.secrets["passkey"] == "…c919"
    assert provider_secret(core.deps, "t1", "mpesa", "security_credential") == "Q" * 344


@pytest.mark.parametrize(
    ("field", "value"),
    [("shortcode", "17437a"), ("shortcode", "12"), ("till_number", "till-1"), ("environment", "live")],
)
def test_mpesa_refuses_non_digit_numbers_and_unknown_environments(core: Core, field: str, value: str) -> None:
    with pytest.raises(DomainError) as excinfo:
        register(core, {**MPESA, field: value}, provider="mpesa")

    assert excinfo.value.details["field"] == field


def test_mpesa_requires_every_credential(core: Core) -> None:
    values = {name: value for name, value in MPESA.items() if name != "passkey"}

    with pytest.raises(DomainError) as excinfo:
        register(core, values, provider="mpesa")

    assert excinfo.value.details["missing"] == ["passkey"]


def test_paystack_and_pesapal_register_with_their_own_fields(core: Core) -> None:
    paystack = register(
        core,
        {"secret_key": "sk_live_0000000000000000abcd", "public_key": "pk_live_0000"},
        provider="paystack",
    )
    pesapal = register(
        core,
        {
            "consumer_key": "qkio1BGGYAXTu2JOfm7XSXNruoZsrqEW",
            "consumer_secret": "osGQ364R49cXKeOYSpaOnT++rHs=",
            "environment": "production",
            "ipn_id": "e6a0f0a1-1f3c-4f8d",
        },
        provider="pesapal",
    )

    assert paystack.secrets == {"secret_key": "sk_live_…abcd"}
    assert paystack.public_key == "pk_live_0000"
    assert pesapal.secrets == {"consumer_key": "…rqEW", "consumer_secret": "…rHs="}
    assert pesapal.settings == {"environment": "production", "ipn_id": "e6a0f0a1-1f3c-4f8d"}


# --- the inbound webhook lookup --------------------------------------------------------------


def test_config_by_url_id_finds_the_tenants_configuration(core: Core) -> None:
    register(core)
    [stored] = core.store.provider_configs.table.rows()

    assert config_by_url_id(core.deps, stored.url_id) == stored


@pytest.mark.parametrize("url_id", ["wh_unknown", "", "x" * 101, None])
def test_config_by_url_id_is_none_for_anything_unknown(core: Core, url_id: object) -> None:
    register(core)

    assert config_by_url_id(core.deps, url_id) is None  # type: ignore[arg-type]


# --- isolation and permissions ---------------------------------------------------------------


def test_another_tenant_cannot_read_or_patch_the_configuration(core: Core) -> None:
    register(core)
    tom = core.user("tom", tenant_id="t2")

    for attempt in (
        lambda: get_provider_config(core.deps, tom, "mercadopago"),
        lambda: update_provider_config(core.deps, tom, "mercadopago", {"access_token": NEW_TOKEN}),
    ):
        with pytest.raises(DomainError) as excinfo:
            attempt()
        assert excinfo.value.code == "RESOURCE_NOT_FOUND"
    assert provider_secret(core.deps, "t1", "mercadopago", "access_token") == TOKEN
    assert provider_secret(core.deps, "t2", "mercadopago", "access_token") is None


def test_each_tenant_has_its_own_configuration_and_webhook_url(core: Core) -> None:
    mine = register(core)
    theirs = register(core, {"access_token": NEW_TOKEN}, tenant_id="t2")

    assert theirs.id != mine.id
    assert theirs.webhook_path != mine.webhook_path
    assert (
        get_provider_config(core.deps, core.user("alice"), "mercadopago").secrets["access_token"]
        == "APP_USR-…1234"
    )
    assert provider_secret(core.deps, "t2", "mercadopago", "access_token") == NEW_TOKEN


def test_reading_a_configuration_that_does_not_exist_is_not_found(core: Core) -> None:
    with pytest.raises(DomainError) as excinfo:
        get_provider_config(core.deps, core.user("alice"), "stripe")

    assert excinfo.value.code == "RESOURCE_NOT_FOUND"


def test_writing_needs_payments_write_and_reading_payments_read(core: Core) -> None:
    register(core)
    reader = core.user("rita", scopes=[Scope.PAYMENTS_READ])
    writer_only = core.user("wes", scopes=ALL_SCOPES - {Scope.PAYMENTS_READ.value})

    for attempt in (
        lambda: register_provider_config(core.deps, reader, "mercadopago", SEED_000),
        lambda: update_provider_config(core.deps, reader, "mercadopago", {"access_token": NEW_TOKEN}),
        lambda: get_provider_config(core.deps, writer_only, "mercadopago"),
    ):
        with pytest.raises(DomainError) as excinfo:
            attempt()
        assert excinfo.value.code == "INSUFFICIENT_PERMISSIONS"
    assert get_provider_config(core.deps, reader, "mercadopago").secrets["access_token"] == "APP_USR-…1234"


def test_changing_provider_credentials_needs_a_person_with_fresh_mfa():
    core = make_core()
    values = {"access_token": "APP_USR-1234567890-abcdef-1234"}
    with pytest.raises(MfaChallengeRequired):
        register_provider_config(core.deps, core.user("alice", mfa=False), "mercadopago", values)
    with pytest.raises(InsufficientPermissions):
        register_provider_config(core.deps, core.api_key(), "mercadopago", values)
    assert core.store.provider_configs.get("t1", "mercadopago") is None
