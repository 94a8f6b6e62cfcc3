"""`POST /webhook-endpoints/{id}/rotate-secret` over HTTP: the new secret is in the first answer
only, never in an idempotency replay nor in the idempotency store."""

import uuid
from datetime import datetime, timedelta

import psycopg

from tests.support.http import error_code

URL = "https://hooks.example.com/payments"


def register(api, tenant):
    response = api.post("/webhook-endpoints", json={"url": URL}, headers=tenant.headers())
    assert response.status_code == 201, response.text
    return response.json()


def stored_replay_body(pg_url, tenant_id, key):
    with psycopg.connect(pg_url) as connection:
        row = connection.execute(
            "SELECT body FROM idempotency_keys WHERE tenant_id = %s AND key = %s", (tenant_id, key)
        ).fetchone()
    assert row is not None and row[0] is not None
    return bytes(row[0]).decode()


def test_rotating_shows_the_new_secret_once_and_a_replay_withholds_it(api, pg_url):
    acme = api.tenant()
    endpoint = register(api, acme)
    key = f"rotate-{uuid.uuid4().hex}"
    path = f"/webhook-endpoints/{endpoint['id']}/rotate-secret"
    headers = acme.headers(**{"Idempotency-Key": key})

    before = api.clock.now()
    first = api.post(path, json={"overlapHours": 2}, headers=headers)

    assert first.status_code == 200, first.text
    rotated = first.json()
    secret = rotated["secret"]
    assert secret.startswith("whsec_") and secret != endpoint["secret"]
    assert {k: v for k, v in rotated.items() if k not in ("secret", "previousSecretExpiresAt")} == {
        k: v for k, v in endpoint.items() if k != "secret"
    }
    expires = datetime.fromisoformat(rotated["previousSecretExpiresAt"].replace("Z", "+00:00"))
    assert before + timedelta(hours=2) <= expires <= api.clock.now() + timedelta(hours=2)
    assert api.core.webhooks.endpoint_secret(acme.id, endpoint["id"]) == secret

    again = api.post(path, json={"overlapHours": 2}, headers=headers)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == {**rotated, "secret": None}
    assert secret not in stored_replay_body(pg_url, acme.id, key)
    assert api.core.webhooks.endpoint_secret(acme.id, endpoint["id"]) == secret  # not rotated twice
    listed = api.get("/webhook-endpoints", headers=acme.headers())
    assert secret not in listed.text and endpoint["secret"] not in listed.text

    default = api.post(path, headers=acme.headers())
    assert default.status_code == 200, default.text
    expires = datetime.fromisoformat(default.json()["previousSecretExpiresAt"].replace("Z", "+00:00"))
    assert expires - api.clock.now() > timedelta(hours=23)
    too_long = api.post(path, json={"overlapHours": 169}, headers=acme.headers())
    assert too_long.status_code == 400 and error_code(too_long) == "INVALID_PARAMETER"
    assert too_long.json()["error"]["details"]["field"] == "overlapHours"
    misnamed = api.post(path, json={"overlap": 1}, headers=acme.headers())
    assert misnamed.status_code == 400 and error_code(misnamed) == "INVALID_PARAMETER"
    assert misnamed.json()["error"]["details"]["field"] == "overlap"
    stale = {"Authorization": f"Bearer {acme.token(mfa=False)}"}
    refused = api.post(path, headers=stale)
    assert refused.status_code == 401 and error_code(refused) == "MFA_CHALLENGE_REQUIRED"
    missing = api.post("/webhook-endpoints/we_missing/rotate-secret", headers=acme.headers())
    assert missing.status_code == 404 and error_code(missing) == "RESOURCE_NOT_FOUND"
    assert api.core.webhooks.endpoint_secret(acme.id, endpoint["id"]) == default.json()["secret"]
