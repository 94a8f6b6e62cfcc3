"""HTTP benchmark: authenticated `GET /api/v1/payments/{id}` against a bare Litestar endpoint.

Both servers run as one uvicorn worker with the same settings; the load comes from a separate
process (benchmarks/loadgen.py), 32 keep-alive connections for 15 s each, after a short warm-up.
The API runs on the embedded PostgreSQL in a fresh `PAYMENTS_HOME`, with a tenant whose rate-limit
plan is large enough that the limiter counts every request (one shared-counter hit per request,
as in production) without refusing any. Each connection reads a payment of its own (32 payments),
so no two concurrent reads are the same read. Prints a table, then exactly:

    http_rps=<…>  bare_rps=<…>  ratio=<http/bare>  p99_ms=<…>
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's `http` package: run as a script, its folder would
# come first on the import path and shadow it for everything imported below.
HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]

import json
import os
import socket
import subprocess
import tempfile
import time

import httpx

SUPPORT = HERE / "support"
BIN = Path(sys.executable).parent
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "15"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"server at {url} did not come up")


def load(urls: list[str], headers: list[str], seconds: float) -> dict[str, float]:
    command = [sys.executable, str(SUPPORT / "loadgen.py"), *urls, "-c", str(CONNECTIONS), "-s", str(seconds)]
    for header in headers:
        command += ["-H", header]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def payments(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [str(BIN / "payments"), *args], env=env, capture_output=True, text=True, check=True
    ).stdout


def prepare_payments(base: str, api_key: str, count: int) -> list[str]:
    """Completed payments, made over HTTP as a client would: checkout sessions, paid in the sandbox."""
    headers = {"Authorization": f"Bearer {api_key}"}
    for number in range(count):
        session = httpx.post(
            f"{base}/checkout/sessions",
            json={"amount": 9900 + number, "currency": "USD", "reference": f"bench-{number}"},
            headers=headers,
            timeout=30,
        )
        session.raise_for_status()
        httpx.post(
            f"{base}/sandbox/sessions/{session.json()['id']}/pay", headers=headers, timeout=30
        ).raise_for_status()
    listed = httpx.get(f"{base}/payments?limit={count}&status=completed", headers=headers, timeout=30)
    listed.raise_for_status()
    ids = [str(payment["id"]) for payment in listed.json()["payments"]]
    if len(ids) != count:
        raise SystemExit(f"expected {count} completed payments, found {len(ids)}")
    return ids


def main() -> None:
    home = tempfile.mkdtemp(prefix="payments-bench-")
    env = {**os.environ, "PAYMENTS_HOME": home}
    api_port, bare_port = free_port(), free_port()
    api = subprocess.Popen(
        [str(BIN / "payments"), "serve", "--port", str(api_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bare = subprocess.Popen(
        [
            str(BIN / "uvicorn"),
            "bare_app:app",
            "--port",
            str(bare_port),
            "--no-access-log",
            "--log-level",
            "info",
        ],
        cwd=SUPPORT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{api_port}/api/v1"
        wait_until_up(f"{base}/health")
        wait_until_up(f"http://127.0.0.1:{bare_port}/ping")
        tenant = json.loads(
            payments(env, "tenant", "create", "bench", "--currency", "USD", "--rate-limit-scale", "1000000")
        )
        payment_ids = prepare_payments(base, tenant["api_key"], CONNECTIONS)
        token = payments(
            env, "token", "--tenant", tenant["tenant_id"], "--user", "bench", "--scope", "payments:read"
        ).strip()
        api_urls = [f"{base}/payments/{payment_id}" for payment_id in payment_ids]
        api_headers = [f"Authorization: Bearer {token}"]
        bare_urls = [f"http://127.0.0.1:{bare_port}/ping"]
        load(api_urls, api_headers, 2)
        load(bare_urls, [], 2)
        measured_api = load(api_urls, api_headers, SECONDS)
        measured_bare = load(bare_urls, [], SECONDS)
    finally:
        for process in (api, bare):
            process.terminate()
            process.wait(timeout=30)
    print(f"{'target':<40}{'rps':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for name, row in (
        ("GET /api/v1/payments/{id} (JWT)", measured_api),
        ("bare Litestar GET /ping", measured_bare),
    ):
        print(f"{name:<40}{row['rps']:>10}{row['p50_ms']:>10}{row['p99_ms']:>10}{row['errors']:>8}")
    if measured_api["errors"]:
        raise SystemExit("the API answered errors under load; the figures are not valid")
    ratio = measured_api["rps"] / measured_bare["rps"]
    print(
        f"http_rps={measured_api['rps']:.0f}  bare_rps={measured_bare['rps']:.0f}  "
        f"ratio={ratio:.2f}  p99_ms={measured_api['p99_ms']:.1f}"
    )


if __name__ == "__main__":
    main()
