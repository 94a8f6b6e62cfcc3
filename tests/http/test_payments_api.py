"""Seed 004 over HTTP: list, read, cancel and refund payments."""

from tests.support.http import error_code


def test_health_and_ready_answer_without_credentials(api):
    assert api.get("/health").json() == {"status": "ok"}
    assert api.get("/ready").json() == {"status": "ready"}


def test_a_paid_payment_is_listed_and_read_in_cents(api):
    acme = api.tenant()
    payment_id = acme.paid_payment("99.00")
    listed = api.get("/payments", headers=acme.headers())
    assert listed.status_code == 200
    body = listed.json()
    assert body["pagination"] == {"currentPage": 1, "totalPages": 1, "totalItems": 1, "itemsPerPage": 10}
    assert [(p["id"], p["amount"], p["status"]) for p in body["payments"]] == [
        (payment_id, 9900, "completed")
    ]
    one = api.get(f"/payments/{payment_id}", headers=acme.headers()).json()
    assert one["id"] == payment_id and one["amount"] == 9900 and "transactionId" in one


def test_another_tenants_payment_answers_404(api):
    acme, globex = api.tenant(), api.tenant()
    payment_id = acme.paid_payment()
    response = api.get(f"/payments/{payment_id}", headers=globex.headers())
    assert response.status_code == 404
    assert error_code(response) == "RESOURCE_NOT_FOUND"


def test_without_credentials_the_answer_is_401(api):
    response = api.get("/payments")
    assert response.status_code == 401
    assert error_code(response) == "UNAUTHENTICATED"


def test_a_bad_status_filter_is_400_with_the_allowed_values(api):
    acme = api.tenant()
    response = api.get("/payments?status=lost", headers=acme.headers())
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "INVALID_PARAMETER"
    assert "completed" in error["details"]["allowedValues"]


def test_cancel_a_pending_payment_and_refuse_a_completed_one(api):
    acme = api.tenant()
    pending = acme.pending_payment()
    cancelled = api.post(
        f"/payments/{pending}/cancel", json={"reason": "changed mind"}, headers=acme.headers()
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["payment"]["status"] == "cancelled"
    paid = acme.paid_payment()
    refused = api.post(f"/payments/{paid}/cancel", json={}, headers=acme.headers())
    assert refused.status_code == 400
    assert refused.json()["error"]["details"]["currentStatus"] == "completed"


def test_refund_with_an_idempotency_key_replays_the_first_answer(api):
    acme = api.tenant()
    acme.paid_payment("100.00")  # the wallet pays refunds back: it needs more than the payment's net
    paid = acme.paid_payment("50.00")
    headers = acme.headers(**{"Idempotency-Key": "refund-1"})
    first = api.post(f"/payments/{paid}/refund", json={"reason": "damaged"}, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["payment"]["status"] == "refunded"
    again = api.post(f"/payments/{paid}/refund", json={"reason": "damaged"}, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = api.post(f"/payments/{paid}/refund", json={"reason": "other"}, headers=headers)
    assert other.status_code == 400 and error_code(other) == "IDEMPOTENCY_KEY_REUSED"


def test_a_refund_asked_with_an_amount_is_refused_rather_than_made_whole(api):
    """Seed 004's refund is of the whole payment: an amount sent to it is refused, never ignored."""
    acme = api.tenant()
    acme.paid_payment("100.00")
    paid = acme.paid_payment("50.00")
    for body in ({"amount": 1000}, {"reason": "damaged", "amount": 1000}):
        refused = api.post(f"/payments/{paid}/refund", json=body, headers=acme.headers())
        assert refused.status_code == 400, refused.text
        assert error_code(refused) == "INVALID_PARAMETER"
        assert refused.json()["error"]["details"]["field"] == "amount"
    assert api.get(f"/payments/{paid}", headers=acme.headers()).json()["status"] == "completed"
    assert api.core.refunds.list_refunds(acme.principal(), paid) == []


def test_messages_follow_accept_language(api):
    acme = api.tenant()
    response = api.get("/payments/pay_missing", headers=acme.headers(**{"Accept-Language": "pt-BR,pt;q=0.9"}))
    assert response.json()["error"]["message"] == "Recurso não encontrado."
    spanish = api.get("/payments/pay_missing", headers=acme.headers(**{"Accept-Language": "es"}))
    assert spanish.json()["error"]["message"] == "Recurso no encontrado."


def test_rate_limit_headers_on_every_answer(api):
    acme = api.tenant()
    response = api.get("/payments", headers=acme.headers())
    assert response.headers["x-ratelimit-limit"] == "100"
    assert int(response.headers["x-ratelimit-remaining"]) == 99
    missing = api.get("/payments/pay_missing", headers=acme.headers())
    assert missing.headers["x-ratelimit-remaining"] == "98"


def test_expired_tampered_and_unsigned_tokens_answer_401_and_change_nothing(api):
    import jwt  # noqa: PLC0415

    from tests.support.http import JWT_SECRET  # noqa: PLC0415

    acme = api.tenant()
    pending = acme.pending_payment()
    base = {"sub": "alice", "tenant_id": acme.id, "scope": "payments:read payments:write",
            "iss": "payments-core", "aud": "payments-api", "iat": 1_700_000_000}  # fmt: skip
    expired = jwt.encode({**base, "exp": 1_700_000_600}, JWT_SECRET, algorithm="HS256")
    unsigned = jwt.encode({**base, "exp": 4_000_000_000}, None, algorithm="none")
    header, payload, _ = acme.token().split(".")
    tampered = f"{header}.{payload}.{'A' * 43}"
    for token in (expired, unsigned, tampered, "garbage"):
        response = api.post(
            f"/payments/{pending}/cancel", json={}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401 and error_code(response) == "UNAUTHENTICATED"
        assert "Traceback" not in response.text and JWT_SECRET not in response.text
    still = api.get(f"/payments/{pending}", headers=acme.headers()).json()
    assert still["status"] == "pending"
