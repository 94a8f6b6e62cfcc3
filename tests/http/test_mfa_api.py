"""MFA over HTTP: enroll, verify a real TOTP code, and use the step-up token; refusals change nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest

from payments_core.errors import DomainError
from tests.support.http import Api, TenantHandle, error_code


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def enroll(api: Api, acme: TenantHandle, user: str = "alice") -> str:
    response = api.post("/mfa/enroll", headers=bearer(acme.token(user, mfa=False)))
    assert response.status_code == 201, response.text
    return str(response.json()["secret"])


def wrong_code(secret: str) -> str:
    """Six digits no step near now answers."""
    totp, now = pyotp.TOTP(secret), datetime.now().astimezone()
    near = {totp.at(now + timedelta(seconds=30 * step)) for step in range(-2, 3)}
    return next(
        code for code in ("000000", "111111", "222222", "333333", "444444", "555555") if code not in near
    )


def factor(api: Api, acme: TenantHandle, user: str = "alice"):
    with api.core.deps.uow() as uow:
        return uow.mfa_factors.get(acme.id, user)


def mfa_audit(api: Api, acme: TenantHandle) -> list[str]:
    page = api.core.audit.list_audit_events(acme.principal("auditor"), limit=100)
    return [event.action for event in page.items if event.action.startswith("mfa.")]


def test_enroll_verify_and_the_step_up_token_creates_an_api_key(api: Api) -> None:
    acme = api.tenant()
    token = acme.token("alice", mfa=False)

    enrolled = api.post("/mfa/enroll", headers=bearer(token))
    assert enrolled.status_code == 201
    body = enrolled.json()
    assert set(body) == {"otpauth_uri", "secret"}
    assert parse_qs(urlparse(body["otpauth_uri"]).query)["secret"] == [body["secret"]]

    verified = api.post("/mfa/verify", headers=bearer(token), json={"code": pyotp.TOTP(body["secret"]).now()})
    assert verified.status_code == 200, verified.text
    answer = verified.json()
    assert set(answer) == {"step_up_token", "mfa_verified_at", "expires_in"}
    assert answer["expires_in"] == int(api.tokens.settings.ttl.total_seconds())

    stepped_up = api.tokens.verify(answer["step_up_token"])
    assert (stepped_up.tenant_id, stepped_up.subject, stepped_up.livemode) == (acme.id, "alice", False)
    assert stepped_up.scopes == api.tokens.verify(token).scopes
    assert stepped_up.mfa_verified_at == datetime.fromisoformat(answer["mfa_verified_at"])
    assert abs(api.clock.now() - stepped_up.mfa_verified_at) < timedelta(seconds=5)
    with pytest.raises(DomainError) as stale:
        api.core.api_keys.create_api_key(api.tokens.verify(token), "ci")
    assert stale.value.code == "MFA_CHALLENGE_REQUIRED"
    created = api.core.api_keys.create_api_key(stepped_up, "ci")
    assert created.key.created_by == "alice"
    assert factor(api, acme).confirmed_at is not None
    assert mfa_audit(api, acme) == ["mfa.verified", "mfa.enrolled"]


def test_replacing_a_confirmed_factor_needs_the_step_up_token(api: Api) -> None:
    acme = api.tenant()
    secret = enroll(api, acme)
    stale = acme.token("alice", mfa=False)
    code = pyotp.TOTP(secret).now()
    step_up = api.post("/mfa/verify", headers=bearer(stale), json={"code": code}).json()["step_up_token"]

    refused = api.post("/mfa/enroll", headers=bearer(stale))
    assert (refused.status_code, error_code(refused)) == (401, "MFA_CHALLENGE_REQUIRED")
    assert refused.json()["error"]["details"]["reason"] == "confirmed_factor"
    assert api.post("/mfa/enroll", headers=bearer(step_up)).status_code == 201


def test_a_wrong_code_is_refused_without_a_token(api: Api) -> None:
    acme = api.tenant()
    secret = enroll(api, acme)

    response = api.post("/mfa/verify", headers=acme.headers("alice"), json={"code": wrong_code(secret)})

    assert (response.status_code, error_code(response)) == (401, "MFA_CHALLENGE_REQUIRED")
    assert response.json()["error"]["details"]["reason"] == "invalid_code"
    assert "step_up_token" not in response.text
    stored = factor(api, acme)
    assert (stored.confirmed_at, stored.failed_attempts) == (None, 1)
    assert mfa_audit(api, acme) == ["mfa.failed", "mfa.enrolled"]


def test_a_replayed_code_is_refused(api: Api) -> None:
    acme = api.tenant()
    secret = enroll(api, acme)
    code = pyotp.TOTP(secret).now()
    first = api.post("/mfa/verify", headers=acme.headers("alice"), json={"code": code})
    assert first.status_code == 200

    replay = api.post("/mfa/verify", headers=acme.headers("alice"), json={"code": code})

    assert (replay.status_code, error_code(replay)) == (401, "MFA_CHALLENGE_REQUIRED")
    assert replay.json()["error"]["details"]["reason"] == "code_already_used"
    assert "step_up_token" not in replay.text


def test_an_api_key_can_neither_enroll_nor_verify(api: Api) -> None:
    acme = api.tenant()
    key = bearer(acme.api_key())

    enrolling = api.post("/mfa/enroll", headers=key)
    verifying = api.post("/mfa/verify", headers=key, json={"code": "123456"})

    for response in (enrolling, verifying):
        assert (response.status_code, error_code(response)) == (403, "INSUFFICIENT_PERMISSIONS")
    assert "secret" not in enrolling.json()
    with api.core.deps.uow() as uow:
        assert all(uow.mfa_factors.get(acme.id, key_id) is None for key_id in ("tests", "alice"))
    assert mfa_audit(api, acme) == []


def test_no_credential_is_unauthenticated(api: Api) -> None:
    for path, body in (("/mfa/enroll", None), ("/mfa/verify", {"code": "123456"})):
        response = api.post(path, json=body)
        assert (response.status_code, error_code(response)) == (401, "UNAUTHENTICATED")


def test_verifying_without_enrolling_says_so(api: Api) -> None:
    acme = api.tenant()

    response = api.post("/mfa/verify", headers=acme.headers("bob"), json={"code": "123456"})

    assert (response.status_code, error_code(response)) == (400, "INVALID_OPERATION")
    assert response.json()["error"]["details"]["reason"] == "not_enrolled"


def test_a_factor_is_not_usable_from_another_tenant(api: Api) -> None:
    acme, globex = api.tenant(), api.tenant()
    secret = enroll(api, acme)

    response = api.post(
        "/mfa/verify", headers=globex.headers("alice"), json={"code": pyotp.TOTP(secret).now()}
    )

    assert error_code(response) == "INVALID_OPERATION"
    assert factor(api, acme).confirmed_at is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"code": 123456},
        {"code": None},
        {"code": "12345"},
        {"code": "12345a"},
        {"code": "1" * 17},
        {"code": "1" * 10_000},
        ["123456"],
    ],
)
def test_a_malformed_body_is_invalid_and_changes_nothing(api: Api, body: object) -> None:
    acme = api.tenant()
    enroll(api, acme)
    before = factor(api, acme)

    response = api.post("/mfa/verify", headers=acme.headers("alice"), json=body)

    assert (response.status_code, error_code(response)) == (400, "INVALID_PARAMETER")
    assert factor(api, acme) == before
    assert mfa_audit(api, acme) == ["mfa.enrolled"]


def test_malformed_json_is_invalid(api: Api) -> None:
    acme = api.tenant()
    enroll(api, acme)

    response = api.post(
        "/mfa/verify",
        headers={**acme.headers("alice"), "Content-Type": "application/json"},
        content=b'{"code": ',
    )

    assert (response.status_code, error_code(response)) == (400, "INVALID_PARAMETER")
    assert factor(api, acme).failed_attempts == 0
