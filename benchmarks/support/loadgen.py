"""A small HTTP/1.1 load generator: N keep-alive connections for S seconds against GET URLs (one
URL, or several on one server: connection i asks for URL i mod their number).

Run as its own process so that the server under test does not share an interpreter with it.
Prints one JSON object: requests, errors, seconds, rps, p50_ms, p99_ms.

    python benchmarks/loadgen.py http://127.0.0.1:8000/api/v1/payments/pay_x -H "Authorization: Bearer …"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


async def _connection(host: str, port: int, request: bytes, deadline: float, latencies: list[float]) -> int:
    errors = 0
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors += 1
    finally:
        writer.close()
    return errors


def _request(url: str, headers: list[str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", *headers, "", ""]
    return host, port, "\r\n".join(lines).encode()


async def _run(urls: list[str], headers: list[str], connections: int, seconds: float) -> dict[str, float]:
    requests = [_request(url, headers) for url in urls]
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds
    errors = await asyncio.gather(
        *(_connection(*requests[i % len(requests)], deadline, latencies) for i in range(connections))
    )
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def quantile(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0

    return {
        "requests": len(ordered),
        "errors": sum(errors),
        "seconds": round(elapsed, 2),
        "rps": round(len(ordered) / elapsed, 1),
        "p50_ms": round(quantile(0.50), 2),
        "p99_ms": round(quantile(0.99), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("urls", nargs="+")
    parser.add_argument("-H", "--header", action="append", default=[])
    parser.add_argument("-c", "--connections", type=int, default=32)
    parser.add_argument("-s", "--seconds", type=float, default=15.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_run(args.urls, args.header, args.connections, args.seconds))))


if __name__ == "__main__":
    main()
