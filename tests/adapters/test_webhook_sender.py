"""The httpx webhook sender against a real receiver on loopback: what a tenant's server sees.

The receiver fails once (500), then hangs past the timeout, then accepts: the delivery ends
delivered after 3 attempts, and every attempt carried a signature the receiver verifies on its own.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs
import pytest

from adapters.memory.deliveries import InMemoryDeliveryStore
from adapters.providers.webhook_sender import HttpxWebhookSender
from payments_core.ports.deliveries import WebhookTransportError
from payments_core.services.context import emit
from payments_core.services.deliveries import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    DeliveryDeps,
    deliver_due,
    fan_out,
)
from payments_core.services.webhooks import create_endpoint
from payments_core.states import DeliveryStatus
from tests.support.core import T0, make_core
from tests.support.deliveries import receiver_accepts

TIMEOUT = timedelta(seconds=0.5)
HANG = 1.5  # seconds: longer than TIMEOUT


@attrs.define
class Receiver:
    """A tenant's webhook handler: answers each request with the next scripted action."""

    script: list[Any]
    requests: list[tuple[dict[str, str], bytes]] = attrs.field(factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            action = receiver.script.pop(0) if len(receiver.script) > 1 else receiver.script[0]
            if action == "hang":
                time.sleep(HANG)
                action = 200
            try:
                self.send_response(action)
                if action in (301, 302, 307):
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the sender gave up on us already

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(script=[200])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def sender() -> Iterator[HttpxWebhookSender]:
    with HttpxWebhookSender() as client:
        yield client


def test_fail_then_time_out_then_accept_ends_delivered_after_three_signed_attempts(
    receiver: Receiver, sender: HttpxWebhookSender
) -> None:
    receiver.script = [500, "hang", 200]
    core = make_core()
    created = create_endpoint(core.deps, core.user("alice"), receiver.url)
    deps = DeliveryDeps(core.deps, InMemoryDeliveryStore(core.store), sender, lambda: 0.5, timeout=TIMEOUT)
    with core.deps.uow() as uow:
        event = emit(uow, core.deps, "t1", "payment.completed", {"paymentId": "pay_1", "amount": 9900})
        uow.commit()
    fan_out(deps, T0)

    outcomes = []
    for _ in range(3):
        [outcome] = deliver_due(deps, core.clock.now())
        outcomes.append(outcome)
        core.clock.set(outcome.next_attempt_at)

    assert [(o.status, o.last_status_code, o.last_error) for o in outcomes] == [
        (DeliveryStatus.RETRYING, 500, "HTTP 500"),
        (DeliveryStatus.RETRYING, None, "timeout"),
        (DeliveryStatus.DELIVERED, 200, None),
    ]
    assert outcomes[-1].attempts == 3
    assert len(receiver.requests) == 3
    for headers, body in receiver.requests:
        timestamp = int(headers[SIGNATURE_HEADER.lower()].split(",")[0].removeprefix("t="))
        assert receiver_accepts(headers[SIGNATURE_HEADER.lower()], body, created.secret, timestamp)
        assert not receiver_accepts(headers[SIGNATURE_HEADER.lower()], body, "whsec_other", timestamp)
        assert headers[EVENT_ID_HEADER.lower()] == headers["idempotency-key"] == event.id
        assert headers["content-type"] == "application/json"
        assert json.loads(body)["data"] == {"paymentId": "pay_1", "amount": 9900}
    assert len({body for _, body in receiver.requests}) == 1
    # The second and third attempts were signed at their own times, 30 s and 90 s after the first.
    stamps = [int(h[SIGNATURE_HEADER.lower()].split(",")[0][2:]) for h, _ in receiver.requests]
    assert [stamp - stamps[0] for stamp in stamps] == [0, 30, 90]


def test_the_sender_returns_the_status_and_never_follows_a_redirect(
    receiver: Receiver, sender: HttpxWebhookSender
) -> None:
    receiver.script = [302]

    status = sender.send(receiver.url, {"Content-Type": "application/json"}, b"{}", TIMEOUT)

    assert status == 302
    assert len(receiver.requests) == 1


def test_a_timeout_is_a_transport_error_with_a_short_reason(
    receiver: Receiver, sender: HttpxWebhookSender
) -> None:
    receiver.script = ["hang"]
    started = time.monotonic()

    with pytest.raises(WebhookTransportError) as excinfo:
        sender.send(receiver.url, {}, b"{}", timedelta(seconds=0.3))

    assert excinfo.value.reason == "timeout"
    assert time.monotonic() - started < HANG


def test_a_refused_connection_is_a_transport_error_naming_no_url(sender: HttpxWebhookSender) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{free_port}/secret-path"

    with pytest.raises(WebhookTransportError) as excinfo:
        sender.send(url, {}, b"{}", TIMEOUT)

    assert excinfo.value.reason == "connect"
    assert "secret-path" not in str(excinfo.value)
