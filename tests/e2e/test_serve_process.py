"""`payments serve --demo` as a real process, driven over HTTP: seed 002's four-eyes withdrawal.

The server runs on its own embedded PostgreSQL (a fresh PAYMENTS_HOME), or on DATABASE_URL's server
when that is set, exactly as `make run` starts it.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent


def exact(response: httpx.Response) -> dict:
    """The body with every decimal number as an exact Decimal: money is never a float."""
    return json.loads(response.text, parse_float=Decimal)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("payments-home")
    port = _free_port()
    log = home / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(BIN / "payments"), "serve", "--demo", "--port", str(port)],
            env={**os.environ, "PAYMENTS_HOME": str(home)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/api/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail(f"payments serve did not come up:\n{log.read_text()[-2000:]}")
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in log.read_text().splitlines()
        if line.startswith("export ")
    )
    yield base, exports, log
    process.terminate()
    assert process.wait(timeout=30) == 0


def test_the_demo_prints_ready_to_paste_credentials(server):
    base, exports, _ = server
    assert exports["BASE"] == base
    assert {"TOKEN", "APPROVER_TOKEN", "API_KEY"} <= exports.keys()
    assert exports["API_KEY"].startswith("sk_test_")
    docs = httpx.get(base.removesuffix("/api/v1") + "/docs/openapi.json", timeout=10)
    assert docs.status_code == 200 and "/api/v1/wallet/withdrawals" in docs.json()["paths"]


def test_seed_002_withdrawal_with_two_people(server):
    base, exports, _ = server
    initiator = {"Authorization": f"Bearer {exports['TOKEN']}"}
    approver = {"Authorization": f"Bearer {exports['APPROVER_TOKEN']}"}
    client = httpx.Client(base_url=base, timeout=30)

    session = client.post(
        "/checkout/sessions",
        json={"amount": 500000, "currency": "KES", "reference": "e2e-topup"},
        headers={**initiator, "Idempotency-Key": "e2e-topup"},
    )
    assert session.status_code in (200, 201), session.text
    paid = client.post(f"/sandbox/sessions/{session.json()['id']}/pay", headers=initiator)
    assert paid.status_code == 200, paid.text

    options = client.get("/wallet/withdrawal-options", headers=initiator)
    assert options.status_code == 200, options.text
    balance_before = exact(options)["wallet_balance"]
    assert balance_before > 1000

    initiated = client.post(
        "/wallet/withdrawals",
        json={"amount": 1000.00, "method_type": "mpesa", "method_details": {"phone_number": "254712345678"}},
        headers=initiator,
    )
    assert initiated.status_code in (200, 201), initiated.text
    withdrawal = exact(initiated)
    assert withdrawal["status"] == "pending" and withdrawal["requires_approval"] is True
    assert (withdrawal["amount"], withdrawal["fee"], withdrawal["net_amount"]) == (
        Decimal("1000.00"),
        Decimal("33.00"),
        Decimal("967.00"),
    )

    own = client.post(f"/wallet/withdrawals/{withdrawal['transaction_id']}/approve", headers=initiator)
    assert own.status_code == 403, own.text
    approved = client.post(f"/wallet/withdrawals/{withdrawal['transaction_id']}/approve", headers=approver)
    assert approved.status_code == 200, approved.text
    assert approved.json()["success"] is True

    after = exact(client.get("/wallet/withdrawal-options", headers=initiator))["wallet_balance"]
    assert balance_before - after == Decimal("1000.00")
    settled = client.post(f"/sandbox/withdrawals/{withdrawal['transaction_id']}/settle", headers=approver)
    assert settled.status_code == 200 and settled.json()["status"] == "completed", settled.text
    listed = client.get("/wallet/withdrawals", params={"status": "completed"}, headers=initiator)
    assert withdrawal["transaction_id"] in listed.text


def test_the_server_delivers_a_signed_test_webhook_to_a_real_receiver(server):
    base, exports, _ = server
    received: list[tuple[dict[str, str], bytes]] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        headers = {"Authorization": f"Bearer {exports['TOKEN']}"}
        url = f"http://localhost:{receiver.server_address[1]}/hooks"
        created = httpx.post(f"{base}/webhook-endpoints", json={"url": url}, headers=headers, timeout=30)
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        sent = httpx.post(
            f"{base}/webhooks/test", json={"eventType": "payment.completed"}, headers=headers, timeout=30
        )
        assert sent.status_code in (200, 201), sent.text
        deadline = time.monotonic() + 30
        while not received and time.monotonic() < deadline:
            time.sleep(0.2)
        assert received, "the in-process worker did not deliver the test event"
        delivered_headers, body = received[0]
        parts = [part.split("=", 1) for part in delivered_headers["Payments-Signature"].split(",")]
        timestamp = next(value for name, value in parts if name == "t")
        signatures = [value for name, value in parts if name == "v1"]
        expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        assert expected in signatures
        assert [json.loads(body)["type"] for _, body in received] == ["payment.completed"]
    finally:
        receiver.shutdown()
