"""`GET /audit-events` over HTTP: the caller's tenant only, newest first, filtered and paginated,
with no secret and no full IP address in any answer."""

import uuid

import pytest

from payments_core.model.integrations import AuditEvent
from tests.support.http import ALL_SCOPES, error_code


def append_event(api, tenant, action="custom.event", target_id="tgt_1", **details):
    """An audit event written through the core's port, as a use case would append it."""
    event = AuditEvent(
        id=f"aud_{uuid.uuid4().hex[:12]}",
        tenant_id=tenant.id,
        action=action,
        actor_kind="user",
        actor_id="alice",
        target_type="test",
        target_id=target_id,
        at=api.clock.now(),
        details=details,
    )
    with api.core.deps.uow() as uow:
        uow.audit.append(event)
        uow.commit()
    return event


def test_the_tenants_events_are_listed_newest_first_with_their_fields(api):
    acme = api.tenant()
    created = api.post("/keys:create", json={"name": "ci"}, headers=acme.headers()).json()
    api.post("/keys:revoke", json={"keyId": created["id"]}, headers=acme.headers())
    response = api.get("/audit-events", headers=acme.headers())
    assert response.status_code == 200, response.text
    body = response.json()
    assert [event["action"] for event in body["events"]] == ["api_key.revoked", "api_key.created"]
    revoked, made = body["events"]
    assert revoked["targetId"] == created["id"] and revoked["details"] == {"name": "ci"}
    assert made["actorType"] == "user" and made["actorId"] == "alice"
    assert made["targetType"] == "api_key" and made["targetId"] == created["id"]
    assert made["createdAt"].endswith("Z") and made["id"].startswith("aud")
    assert made["details"]["name"] == "ci" and made["details"]["prefix"] == "sk_test"
    assert body["pagination"] == {
        "currentPage": 1, "totalPages": 1, "totalItems": 2, "itemsPerPage": 50, "hasMore": False,
    }  # fmt: skip
    assert created["secret"] not in response.text


def test_filters_and_pages(api):
    acme = api.tenant()
    for n in range(3):
        append_event(api, acme, action="thing.done", target_id=f"tgt_{n}")
    append_event(api, acme, action="other.done", target_id="tgt_0")
    by_action = api.get("/audit-events?action=thing.done", headers=acme.headers()).json()
    assert {event["targetId"] for event in by_action["events"]} == {"tgt_0", "tgt_1", "tgt_2"}
    by_target = api.get("/audit-events", params={"targetId": "tgt_0"}, headers=acme.headers()).json()
    assert sorted(event["action"] for event in by_target["events"]) == ["other.done", "thing.done"]
    both = api.get("/audit-events?action=other.done&targetId=tgt_0", headers=acme.headers()).json()
    assert [event["action"] for event in both["events"]] == ["other.done"]
    second = api.get("/audit-events?limit=3&page=2", headers=acme.headers()).json()
    assert len(second["events"]) == 1
    assert second["pagination"] == {
        "currentPage": 2, "totalPages": 2, "totalItems": 4, "itemsPerPage": 3, "hasMore": False,
    }  # fmt: skip
    first = api.get("/audit-events?limit=3", headers=acme.headers()).json()
    assert first["pagination"]["hasMore"] is True
    assert {event["id"] for event in first["events"]}.isdisjoint({event["id"] for event in second["events"]})
    beyond = api.get("/audit-events?page=9", headers=acme.headers()).json()
    assert beyond["events"] == [] and beyond["pagination"]["totalItems"] == 4


def test_another_tenant_sees_none_of_these_events(api):
    acme, globex = api.tenant(), api.tenant()
    event = append_event(api, acme, target_id="tgt_secret_plan")
    mine = api.get("/audit-events", headers=acme.headers()).json()
    assert [item["id"] for item in mine["events"]] == [event.id]
    theirs = api.get("/audit-events", headers=globex.headers()).json()
    assert theirs["events"] == [] and theirs["pagination"]["totalItems"] == 0
    targeted = api.get("/audit-events?targetId=tgt_secret_plan", headers=globex.headers()).json()
    assert targeted["events"] == []


def test_reading_needs_finance_view_but_no_mfa(api):
    acme = api.tenant()
    append_event(api, acme)
    lacking = api.get("/audit-events", headers=acme.headers(scopes=ALL_SCOPES - {"finance:view"}))
    assert lacking.status_code == 403 and error_code(lacking) == "INSUFFICIENT_PERMISSIONS"
    no_mfa = {"Authorization": f"Bearer {acme.token(scopes=['finance:view'], mfa=False)}"}
    assert api.get("/audit-events", headers=no_mfa).status_code == 200
    key = acme.api_key(scopes=["payments:read"])
    refused = api.get("/audit-events", headers={"X-TENANT-API-KEY": key})
    assert refused.status_code == 403 and error_code(refused) == "INSUFFICIENT_PERMISSIONS"


def test_tenant_header_must_match(api):
    acme, globex = api.tenant(), api.tenant()
    for header in ("X-Tenant", "X-TENANT-ID"):
        wrong = api.get("/audit-events", headers=acme.headers(**{header: globex.id}))
        assert wrong.status_code == 403 and error_code(wrong) == "INSUFFICIENT_PERMISSIONS"
        assert api.get("/audit-events", headers=acme.headers(**{header: acme.id})).status_code == 200


def test_no_secret_or_full_ip_address_is_ever_shown(api):
    acme = api.tenant()
    key = "sk_live_" + "A1b2C3d4E5f6G7h8I9j0"
    append_event(
        api, acme,
        clientIp="203.0.113.77",
        ip_address="2001:db8:abcd:12::5",
        note=f"seen from 198.51.100.23 using {key}",
        webhookSecret="whsec_abcdefghijklmnop",
        nested={"accessToken": "tok_123456", "peers": ["192.0.2.14"], "keyId": "key_1"},
        amount=9900,
    )  # fmt: skip
    response = api.get("/audit-events", headers=acme.headers())
    [event] = response.json()["events"]
    details = event["details"]
    assert details["clientIp"] == "203.0.113.0/24"
    assert details["ip_address"] == "2001:db8:abcd::/48"
    assert details["note"] == "seen from 198.51.100.0/24 using sk_live_[redacted]"
    assert details["webhookSecret"] == "[redacted]"
    assert details["nested"] == {"accessToken": "[redacted]", "peers": ["192.0.2.0/24"], "keyId": "key_1"}
    assert details["amount"] == 9900
    for leaked in (
        "203.0.113.77",
        "2001:db8:abcd:12::5",
        "198.51.100.23",
        "192.0.2.14",
        key,
        "whsec_a",
        "tok_1",
    ):
        assert leaked not in response.text


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "page=0",
        "page=abc",
        "limit=1.5",
        "action=" + "a" * 101,
        "targetId=" + "t" * 101,
    ],
)
def test_bad_paging_or_filters_are_400(api, query):
    acme = api.tenant()
    response = api.get(f"/audit-events?{query}", headers=acme.headers())
    assert response.status_code == 400, response.text
    assert error_code(response) == "INVALID_PARAMETER"
