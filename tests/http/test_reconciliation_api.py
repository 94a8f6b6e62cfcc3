"""`/reconciliation/...` over HTTP: runs and breaks of the caller's tenant only, and accepting a break."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from payments_core.model.reconciliation import StagedLine
from tests.support.http import error_code


def reconciled(api, tenant, gross_delta=0):
    """A run over a two-line statement: one payment with `gross_delta` added, one unknown charge."""
    payment_id = tenant.paid_payment("25.00")
    with api.core.deps.uow() as uow:
        payment = uow.payments.get(tenant.id, payment_id)
    at = payment.created_at + timedelta(minutes=1)
    lines = [
        StagedLine(2, "charge", payment.provider_reference, None, payment.amount.minor + gross_delta,
                   payment.fee.minor, payment.amount.minor + gross_delta - payment.fee.minor, tenant.currency, at),
        StagedLine(3, "charge", "ch_stranger", None, 700, 0, 700, tenant.currency, at),
    ]  # fmt: skip
    digest = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    return api.core.reconciliation.reconcile(tenant.principal(), "sandbox", digest, lines).run


def test_runs_are_listed_newest_first_and_read_one_by_one(api):
    acme = api.tenant()
    first = reconciled(api, acme)
    second = reconciled(api, acme)
    listed = api.get("/reconciliation/runs", headers=acme.headers())
    assert listed.status_code == 200, listed.text
    ids = [run["id"] for run in listed.json()["runs"]]
    assert ids == [second.id, first.id]
    one = api.get(f"/reconciliation/runs/{first.id}", headers=acme.headers()).json()
    assert one["lines"] == 2 and one["matched"] == 1
    assert one["counts"]["missing_in_ledger"] == 1 and one["breaks"] == 1


def test_breaks_are_listed_with_their_evidence_and_filtered(api):
    acme = api.tenant()
    run = reconciled(api, acme, gross_delta=5)
    response = api.get(f"/reconciliation/runs/{run.id}/breaks", headers=acme.headers())
    assert response.status_code == 200, response.text
    breaks = response.json()["breaks"]
    assert [b["kind"] for b in breaks] == ["amount_mismatch", "missing_in_ledger"]
    assert breaks[0]["difference"] == 5 and breaks[0]["line"]["lineNumber"] == 2
    assert breaks[1]["difference"] == 700 and breaks[1]["record"] is None
    only = api.get(
        f"/reconciliation/runs/{run.id}/breaks", params={"kind": "missing_in_ledger"}, headers=acme.headers()
    ).json()["breaks"]
    assert [b["kind"] for b in only] == ["missing_in_ledger"]


def test_an_unknown_filter_is_a_400_naming_the_allowed_values(api):
    acme = api.tenant()
    run = reconciled(api, acme)
    response = api.get(
        f"/reconciliation/runs/{run.id}/breaks", params={"kind": "bogus"}, headers=acme.headers()
    )
    assert response.status_code == 400 and error_code(response) == "INVALID_PARAMETER"


def test_another_tenants_run_and_break_answer_404(api):
    acme, other = api.tenant(), api.tenant()
    run = reconciled(api, acme)
    assert api.get(f"/reconciliation/runs/{run.id}", headers=other.headers()).status_code == 404
    assert api.get(f"/reconciliation/runs/{run.id}/breaks", headers=other.headers()).status_code == 404
    item = api.get(f"/reconciliation/runs/{run.id}/breaks", headers=acme.headers()).json()["breaks"][0]
    accepted = api.post(f"/reconciliation/breaks/{item['id']}/accept", json={}, headers=other.headers())
    assert accepted.status_code == 404
    assert api.get("/reconciliation/runs", headers=other.headers()).json()["runs"] == []


def test_accepting_a_break_posts_through_suspense_and_needs_fresh_mfa(api):
    acme = api.tenant()
    run = reconciled(api, acme)
    item = api.get(f"/reconciliation/runs/{run.id}/breaks", headers=acme.headers()).json()["breaks"][0]
    stale = {"Authorization": f"Bearer {acme.token(mfa=False)}"}
    refused = api.post(f"/reconciliation/breaks/{item['id']}/accept", json={}, headers=stale)
    assert refused.status_code == 401 and error_code(refused) == "MFA_CHALLENGE_REQUIRED"
    viewer = acme.headers(scopes={"finance.view"})
    assert api.post(f"/reconciliation/breaks/{item['id']}/accept", json={}, headers=viewer).status_code == 403
    done = api.post(
        f"/reconciliation/breaks/{item['id']}/accept", json={"note": "bank fee"}, headers=acme.headers()
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "resolved" and done.json()["note"] == "bank fee"
    with api.core.deps.uow() as uow:
        posted = uow.ledger.transfer(acme.id, f"{item['id']}.accepted")
    assert posted.postings[0].amount.minor == 700
    again = api.post(f"/reconciliation/breaks/{item['id']}/accept", json={}, headers=acme.headers())
    assert again.status_code == 400 and error_code(again) == "INVALID_OPERATION"


def test_reading_needs_the_finance_scope(api):
    acme = api.tenant()
    response = api.get("/reconciliation/runs", headers=acme.headers(scopes={"payments.read"}))
    assert response.status_code == 403


def test_an_id_that_can_name_nothing_is_not_found_as_on_the_payment_read(api):
    """A NUL cannot be stored in PostgreSQL text: such an id names no run, as it names no payment."""
    acme = api.tenant()
    run = reconciled(api, acme)
    principal = acme.principal()
    runs_before = api.core.reconciliation.list_runs(principal)
    breaks_before = api.core.reconciliation.list_breaks(principal, run.id)
    payment_read = api.get("/payments/p%00x", headers=acme.headers())
    assert payment_read.status_code == 404 and error_code(payment_read) == "RESOURCE_NOT_FOUND"
    answers = [
        api.get(f"/reconciliation/runs/{run.id}%00", headers=acme.headers()),
        api.get(f"/reconciliation/runs/{run.id}%00/breaks", headers=acme.headers()),
        api.post(f"/reconciliation/breaks/{breaks_before[0].id}%00/accept", json={}, headers=acme.headers()),
    ]
    for response, resource, named in zip(
        answers,
        ("reconciliation_run", "reconciliation_run", "reconciliation_break"),
        (run.id, run.id, breaks_before[0].id),
        strict=True,
    ):
        assert response.status_code == 404, response.text
        assert error_code(response) == "RESOURCE_NOT_FOUND"
        body = response.json()
        assert body.keys() == payment_read.json().keys()
        assert body["error"].keys() == payment_read.json()["error"].keys()
        assert body["error"]["details"] == {"resource": resource, "id": f"{named}\x00"}
        for leak in ("SELECT", "Traceback", "psycopg", "DataError", "0x00"):
            assert leak not in response.text
    assert api.core.reconciliation.list_runs(principal) == runs_before
    assert api.core.reconciliation.list_breaks(principal, run.id) == breaks_before
    assert api.get(f"/reconciliation/runs/{run.id}", headers=acme.headers()).status_code == 200
