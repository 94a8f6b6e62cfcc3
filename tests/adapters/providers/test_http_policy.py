"""The shared provider HTTP policy against a real loopback server: what is retried, how often, what
the failure says, and the token cache under threads and time."""

import asyncio
import itertools
import socket
import threading
import time

import httpx
import pytest

from adapters.providers.http_policy import LazyClient, ProviderHttp, RetryPolicy, TokenCache
from payments_core.errors import ProviderUnavailable
from tests.fakes.serving import serve

RETRIES = 2


class Scripted:
    """Answers each request with the next status of its script (the last one repeats), and counts."""

    def __init__(self):
        self.statuses = [200]
        self.delay = 0.0
        self.seen = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        self.seen.append((scope["method"], scope["path"]))
        status = self.statuses[min(len(self.seen), len(self.statuses)) - 1]
        if self.delay:
            await asyncio.sleep(self.delay)
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": f"answer {status}".encode()})


@pytest.fixture(scope="module")
def server():
    app = Scripted()
    with serve(app) as url:
        yield app, url


@pytest.fixture
def app(server):
    scripted = server[0]
    scripted.statuses, scripted.delay, scripted.seen = [200], 0.0, []
    return scripted


@pytest.fixture
def naps():
    return []


@pytest.fixture
def http(server, app, naps):
    client = ProviderHttp(
        "acme",
        server[1],
        timeout=httpx.Timeout(0.3),
        retry=RetryPolicy(retries=RETRIES, base_delay=0.01, max_delay=0.02),
        sleep=naps.append,
    )
    yield client
    client.close()


def test_a_get_is_retried_after_a_503_and_then_succeeds(http, app, naps):
    app.statuses = [503, 200]
    response = http.request("GET", "/v1/things/1")
    assert response.status_code == 200
    assert response.text == "answer 200"
    assert app.seen == [("GET", "/v1/things/1")] * 2
    assert len(naps) == 1


def test_a_post_without_idempotency_is_sent_once(http, app, naps):
    app.statuses = [503, 200]
    with pytest.raises(ProviderUnavailable):
        http.request("POST", "/v1/payments", data={"amount": "100"})
    assert app.seen == [("POST", "/v1/payments")]
    assert naps == []


def test_a_post_declared_idempotent_is_retried(http, app):
    app.statuses = [500, 429, 200]
    response = http.request("POST", "/v1/payments", idempotent=True, headers={"Idempotency-Key": "k1"})
    assert response.status_code == 200
    assert len(app.seen) == 3


def test_a_get_declared_not_idempotent_is_sent_once(http, app):
    app.statuses = [502, 200]
    with pytest.raises(ProviderUnavailable):
        http.request("GET", "/v1/things", idempotent=False)
    assert len(app.seen) == 1


@pytest.mark.parametrize("retries", [0, 1, 4])
def test_retries_are_bounded(server, app, retries):
    app.statuses = [503]
    naps = []
    client = ProviderHttp(
        "acme", server[1], retry=RetryPolicy(retries=retries, base_delay=0.0), sleep=naps.append
    )
    with pytest.raises(ProviderUnavailable):
        client.request("GET", "/v1/things")
    client.close()
    assert len(app.seen) == 1 + retries
    assert len(naps) == retries


def test_a_client_error_is_the_adapters_to_map_and_not_retried(http, app):
    app.statuses = [402, 200]
    response = http.request("POST", "/v1/charges", idempotent=True)
    assert response.status_code == 402
    assert len(app.seen) == 1


def test_the_failure_names_the_provider_and_a_reason_but_no_url_or_secret(http, app, server):
    app.statuses = [503]
    with pytest.raises(ProviderUnavailable) as raised:
        http.request(
            "GET", "/v1/accounts/acct_secret", params={"token": "tok_secret"},
            headers={"Authorization": "Bearer sk_secret"}, auth=("user", "pass_secret"),
        )  # fmt: skip
    error = raised.value
    assert error.code == "PROVIDER_UNAVAILABLE"
    assert "acme" in error.message
    assert error.details == {"provider": "acme", "reason": "status 503"}
    text = f"{error} {error!r}"
    for leak in (
        server[1],
        "127.0.0.1",
        "/v1/accounts",
        "acct_secret",
        "tok_secret",
        "sk_secret",
        "pass_secret",
    ):
        assert leak not in text


def test_a_provider_too_slow_to_answer_is_a_timeout(http, app):
    app.delay = 0.6
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable) as raised:
        http.request("GET", "/v1/slow")
    assert raised.value.details["reason"] == "timeout"
    assert len(app.seen) == 1 + RETRIES
    assert time.monotonic() - started < 0.3 * (1 + RETRIES) + 0.5


def test_a_provider_nobody_listens_for_is_a_connect_failure():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = ProviderHttp("acme", f"http://127.0.0.1:{closed_port}", sleep=lambda _: None)
    with pytest.raises(ProviderUnavailable) as raised:
        client.request("GET", "/v1/things")
    client.close()
    assert raised.value.details == {"provider": "acme", "reason": "connect"}
    assert str(closed_port) not in str(raised.value)


# --- RetryPolicy ---------------------------------------------------------------------------------------


def test_the_delay_ceiling_doubles_up_to_the_maximum():
    policy = RetryPolicy(retries=6, base_delay=0.2, max_delay=2.0)
    ceilings = [policy.delay(attempt, draw=lambda: 1.0) for attempt in range(6)]
    assert ceilings == pytest.approx([0.2, 0.4, 0.8, 1.6, 2.0, 2.0])
    assert [policy.delay(attempt, draw=lambda: 0.0) for attempt in range(6)] == [0.0] * 6


def test_a_jittered_delay_stays_within_zero_and_its_ceiling():
    policy = RetryPolicy(base_delay=0.1, max_delay=1.0)
    for attempt in range(8):
        ceiling = min(1.0, 0.1 * 2**attempt)
        delays = [policy.delay(attempt) for _ in range(50)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered, not a fixed wait


# --- TokenCache ----------------------------------------------------------------------------------------


class Issuer:
    def __init__(self, lifetime=3600.0, pause=0.0):
        self.lifetime, self.pause = lifetime, pause
        self.calls = []
        self._numbers = itertools.count(1)

    def __call__(self, key):
        self.calls.append(key)
        time.sleep(self.pause)  # a slow token endpoint: the other threads must wait, not fetch
        return f"{key}-token-{next(self._numbers)}", self.lifetime


def test_twenty_threads_asking_at_once_fetch_one_token():
    issuer = Issuer(pause=0.05)
    cache = TokenCache(issuer)
    start = threading.Barrier(20)
    got = []

    def ask():
        start.wait()
        got.append(cache.get("tenant-1:test"))

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert issuer.calls == ["tenant-1:test"]
    assert got == ["tenant-1:test-token-1"] * 20


def test_a_token_is_refetched_once_its_lifetime_less_the_margin_is_over():
    now = [1000.0]
    issuer = Issuer(lifetime=120.0)
    cache = TokenCache(issuer, margin_seconds=60.0, clock=lambda: now[0])
    assert cache.get("k") == "k-token-1"
    now[0] += 59.9
    assert cache.get("k") == "k-token-1"
    now[0] += 0.1
    assert cache.get("k") == "k-token-2"
    assert issuer.calls == ["k", "k"]


def test_a_forgotten_token_is_fetched_again_and_other_keys_are_untouched():
    issuer = Issuer()
    cache = TokenCache(issuer, clock=lambda: 0.0)
    assert cache.get("a") == "a-token-1"
    assert cache.get("b") == "b-token-2"
    cache.forget("a")
    assert cache.get("a") == "a-token-3"
    assert cache.get("b") == "b-token-2"
    cache.forget("never-fetched")
    assert issuer.calls == ["a", "b", "a"]


def test_a_lazy_client_is_made_on_first_use_once_however_many_threads_ask():
    made: list[httpx.Client] = []
    gate = threading.Barrier(8)

    def make() -> httpx.Client:
        time.sleep(0.05)  # long enough for every thread to be asking at once
        made.append(httpx.Client())
        return made[-1]

    lazy = LazyClient(make)
    assert made == []
    got: list[httpx.Client] = []

    def ask() -> None:
        gate.wait()
        got.append(lazy.get())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1 and got == made * 8
    lazy.close()
    assert made[0].is_closed


def test_closing_a_lazy_client_never_used_makes_none():
    made: list[httpx.Client] = []
    lazy = LazyClient(lambda: made.append(httpx.Client()) or made[-1])
    lazy.close()
    assert made == []
