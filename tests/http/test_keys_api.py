"""Seed 003 over HTTP: `POST /keys:create` and `POST /keys:revoke`, the secret shown once, and the
key's life as a credential (Bearer, `X-TENANT-API-KEY`, `AppId`) until it is revoked."""

from datetime import timedelta

import pytest

from tests.support.http import ALL_SCOPES, error_code, wait_for_a_fresh_window

PROBE = "/audit-events"  # readable with a key's default scopes (finance:view)


def keys_of(api, tenant):
    return api.core.api_keys.list_api_keys(tenant.principal())


def no_mfa(tenant, scopes=ALL_SCOPES):
    return {"Authorization": f"Bearer {tenant.token(scopes=scopes, mfa=False)}"}


def create(api, tenant, body=None, **headers):
    return api.post(
        "/keys:create", json=body or {"name": "Production Server"}, headers={**tenant.headers(), **headers}
    )


def test_the_colon_is_part_of_a_literal_path(api):
    paths = set(api.client.app.openapi_schema.paths)
    assert {"/api/v1/keys:create", "/api/v1/keys:revoke"} <= paths
    acme = api.tenant()
    assert api.post("/keys/:create", json={"name": "x"}, headers=acme.headers()).status_code == 404
    encoded = api.post("/keys%3Acreate", json={"name": "encoded colon"}, headers=acme.headers())
    assert encoded.status_code == 201, encoded.text
    assert [key.name for key in keys_of(api, acme)] == ["encoded colon"]


def test_create_answers_the_seed_fields_and_the_secret_once(api):
    acme = api.tenant()
    response = create(api, acme)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "Production Server"
    assert body["prefix"] == "sk_test"
    assert body["secret"].startswith("sk_test_") and len(body["secret"]) > 20
    assert body["secret"].endswith(body["last4"])
    assert body["created_at"].endswith("Z") and body["revokedAt"] is None
    assert response.headers["X-RateLimit-Limit"] == "10"
    [stored] = keys_of(api, acme)
    assert stored.id == body["id"] and body["secret"] not in repr(stored)
    assert stored.secret_hash != body["secret"]


def test_the_key_authenticates_in_every_header_until_revoked(api):
    acme = api.tenant()
    created = create(api, acme).json()
    secret = created["secret"]
    ways = [
        {"Authorization": f"Bearer {secret}"},
        {"X-TENANT-API-KEY": secret},
        {"AppId": secret},
    ]
    for headers in ways:
        response = api.get(PROBE, headers=headers)
        assert response.status_code == 200, (headers, response.text)
    revoked = api.post("/keys:revoke", json={"keyId": created["id"]}, headers=acme.headers())
    assert revoked.status_code == 200, revoked.text
    body = revoked.json()
    assert body["success"] is True and body["keyId"] == created["id"] and body["revokedAt"].endswith("Z")
    assert secret not in revoked.text and "secret" not in body
    for headers in ways:
        response = api.get(PROBE, headers=headers)
        assert response.status_code == 401 and error_code(response) == "UNAUTHENTICATED"


def test_the_secret_never_appears_again_not_even_in_the_audit_trail(api):
    acme = api.tenant()
    created = create(api, acme).json()
    api.post("/keys:revoke", json={"keyId": created["id"]}, headers=acme.headers())
    trail = api.get("/audit-events", headers=acme.headers())
    assert trail.status_code == 200
    actions = {event["action"] for event in trail.json()["events"]}
    assert {"api_key.created", "api_key.revoked"} <= actions
    assert created["secret"] not in trail.text
    assert all(created["secret"] not in repr(key) for key in keys_of(api, acme))


def test_revoking_twice_answers_the_first_revocation(api):
    acme = api.tenant()
    created = create(api, acme).json()
    first = api.post("/keys:revoke", json={"keyId": created["id"]}, headers=acme.headers()).json()
    again = api.post("/keys:revoke", json={"keyId": created["id"]}, headers=acme.headers())
    assert again.status_code == 200 and again.json()["revokedAt"] == first["revokedAt"]


def test_tenant_header_must_name_the_credentials_tenant(api):
    acme, globex = api.tenant(), api.tenant()
    secret = acme.api_key()
    for header in ("X-Tenant", "X-TENANT-ID"):
        wrong = api.get(PROBE, headers={"Authorization": f"Bearer {secret}", header: globex.id})
        assert wrong.status_code == 403 and error_code(wrong) == "INSUFFICIENT_PERMISSIONS"
        right = api.get(PROBE, headers={"Authorization": f"Bearer {secret}", header: acme.id})
        assert right.status_code == 200
    before = len(keys_of(api, acme))
    refused = create(api, acme, **{"X-Tenant": globex.id})
    assert refused.status_code == 403 and len(keys_of(api, acme)) == before
    assert create(api, acme, **{"X-TENANT-ID": acme.id}).status_code == 201


def test_managing_keys_needs_the_scope(api):
    acme = api.tenant()
    existing = create(api, acme).json()
    lacking = acme.headers(scopes=ALL_SCOPES - {"api_keys.manage"})
    refused = api.post("/keys:create", json={"name": "x"}, headers=lacking)
    assert refused.status_code == 403 and error_code(refused) == "INSUFFICIENT_PERMISSIONS"
    not_revoked = api.post("/keys:revoke", json={"keyId": existing["id"]}, headers=lacking)
    assert not_revoked.status_code == 403 and error_code(not_revoked) == "INSUFFICIENT_PERMISSIONS"
    assert [(key.id, key.is_active) for key in keys_of(api, acme)] == [(existing["id"], True)]


def test_an_api_key_cannot_mint_or_revoke_keys(api):
    acme = api.tenant()
    secret = acme.api_key(scopes=["api_keys.manage", "finance:view"])
    before = keys_of(api, acme)
    minted = api.post("/keys:create", json={"name": "x"}, headers={"Authorization": f"Bearer {secret}"})
    assert minted.status_code == 403 and error_code(minted) == "INSUFFICIENT_PERMISSIONS"
    revoked = api.post("/keys:revoke", json={"keyId": before[0].id}, headers={"X-TENANT-API-KEY": secret})
    assert revoked.status_code == 403
    assert keys_of(api, acme) == before


def test_creating_and_revoking_need_a_fresh_mfa(api):
    acme = api.tenant()
    stale = {"Authorization": f"Bearer {acme.token(mfa_at=api.clock.now() - timedelta(minutes=10))}"}
    for headers in (no_mfa(acme), stale):
        refused = api.post("/keys:create", json={"name": "x"}, headers=headers)
        assert refused.status_code == 401 and error_code(refused) == "MFA_CHALLENGE_REQUIRED"
        assert refused.json()["error"]["details"]["action"] == "api-keys"
    assert keys_of(api, acme) == []
    created = create(api, acme).json()
    refused = api.post("/keys:revoke", json={"keyId": created["id"]}, headers=no_mfa(acme))
    assert refused.status_code == 401 and error_code(refused) == "MFA_CHALLENGE_REQUIRED"
    assert api.get(PROBE, headers={"AppId": created["secret"]}).status_code == 200
    done = api.post("/keys:revoke", json={"keyId": created["id"]}, headers=acme.headers())
    assert done.status_code == 200


def test_another_tenants_key_is_not_found_and_stays_active(api):
    acme, globex = api.tenant(), api.tenant()
    created = create(api, acme).json()
    response = api.post("/keys:revoke", json={"keyId": created["id"]}, headers=globex.headers())
    assert response.status_code == 404 and error_code(response) == "RESOURCE_NOT_FOUND"
    assert api.get(PROBE, headers={"X-TENANT-API-KEY": created["secret"]}).status_code == 200
    unknown = api.post("/keys:revoke", json={"keyId": "key_missing"}, headers=acme.headers())
    assert unknown.status_code == 404 and error_code(unknown) == "RESOURCE_NOT_FOUND"


def test_create_with_an_idempotency_key_replays_the_same_key_without_its_secret(api):
    acme = api.tenant()
    first = create(api, acme, **{"Idempotency-Key": "key-1"})
    assert first.status_code == 201 and first.json()["secret"].startswith("sk_")
    again = create(api, acme, **{"Idempotency-Key": "key-1"})
    assert again.status_code == 201
    assert again.json() == {**first.json(), "secret": None}  # shown once: never kept for replays
    assert again.headers["idempotent-replayed"] == "true"
    other = create(api, acme, {"name": "Other"}, **{"Idempotency-Key": "key-1"})
    assert other.status_code == 400 and error_code(other) == "IDEMPOTENCY_KEY_REUSED"
    assert [key.id for key in keys_of(api, acme)] == [first.json()["id"]]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "x" * 101}, 400, "INVALID_PARAMETER"),
        ({"name": "   "}, 400, "INVALID_PARAMETER"),
        ({"name": 123}, 400, "INVALID_PARAMETER"),
        ({}, 400, "INVALID_PARAMETER"),
        ({"name": "x", "scopes": ["payments:read", "root"]}, 400, "INVALID_PARAMETER"),
        ({"name": "x", "scopes": []}, 400, "INVALID_PARAMETER"),
        ({"name": "x", "scopes": "payments:read"}, 400, "INVALID_PARAMETER"),
        ({"name": "x", "livemode": "yes"}, 400, "INVALID_PARAMETER"),
        ({"name": "x", "livemode": True}, 403, "INSUFFICIENT_PERMISSIONS"),
        ([{"name": "x"}], 400, "INVALID_PARAMETER"),
    ],
)
def test_bad_create_input_is_refused_and_creates_nothing(api, body, status, code):
    acme = api.tenant()
    response = api.post("/keys:create", json=body, headers=acme.headers())
    assert response.status_code == status, response.text
    assert error_code(response) == code
    assert keys_of(api, acme) == []


def test_malformed_json_and_wider_scopes_than_the_creator_are_refused(api):
    acme = api.tenant()
    headers = {**acme.headers(), "Content-Type": "application/json"}
    malformed = api.post("/keys:create", content=b'{"name": "x"', headers=headers)
    assert malformed.status_code == 400 and error_code(malformed) == "INVALID_PARAMETER"
    narrow = acme.headers(scopes=["api_keys.manage", "payments:read"])
    wider = api.post("/keys:create", json={"name": "x", "scopes": ["refunds:create"]}, headers=narrow)
    assert wider.status_code == 403 and error_code(wider) == "INSUFFICIENT_PERMISSIONS"
    granted = api.post("/keys:create", json={"name": "x", "scopes": ["payments:read"]}, headers=narrow)
    assert granted.status_code == 201 and granted.json()["scopes"] == ["payments:read"]
    assert [key.name for key in keys_of(api, acme)] == ["x"]


@pytest.mark.parametrize("body", [{}, {"keyId": ""}, {"keyId": "k" * 101}, {"keyId": 7}, {"key_id": "key_1"}])
def test_bad_revoke_input_is_refused_and_revokes_nothing(api, body):
    acme = api.tenant()
    created = create(api, acme).json()
    response = api.post("/keys:revoke", json=body, headers=acme.headers())
    assert response.status_code == 400 and error_code(response) == "INVALID_PARAMETER"
    assert [key.is_active for key in keys_of(api, acme)] == [True]
    assert api.get(PROBE, headers={"AppId": created["secret"]}).status_code == 200


def test_key_routes_share_the_tenants_limit_of_ten_a_minute(api):
    acme = api.tenant()
    wait_for_a_fresh_window(api)
    answers = [
        api.post("/keys:revoke", json={"keyId": f"key_{n}"}, headers=acme.headers()) for n in range(10)
    ]
    assert [answer.status_code for answer in answers] == [404] * 10
    limited = create(api, acme)
    assert limited.status_code == 429 and error_code(limited) == "RATE_LIMIT_EXCEEDED"
    assert int(limited.headers["Retry-After"]) >= 1
    assert keys_of(api, acme) == []
    other = api.tenant()
    assert create(api, other).status_code == 201
