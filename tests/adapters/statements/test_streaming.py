"""A statement far larger than memory would allow to hold streams with flat memory.

The file is generated on the fly (a raw stream whose bytes exist only while being read), so neither
the test nor the parser could hold it whole; `tracemalloc` measures the parser's peak.
Under `tracemalloc` the parser runs about ten times slower, so the test streams 200,000 lines (a
million would take over a minute) and shows flatness directly: the peak for 200,000 lines is no
bigger than for 20,000 plus slack, and well under the 20 MiB budget.
"""

import io
import tracemalloc

from adapters.statements import open_statement

LINES = 200_000
FEW_LINES = 20_000
SLACK = 256 * 1024
PEAK_LIMIT = 20 * 1024 * 1024
HEADER = b"provider,external_id,type,gross,fee,net,currency,occurred_at,reference\n"


class GeneratedStatement(io.RawIOBase):
    """A read-only stream of `rows` generic statement rows, produced as they are read."""

    def __init__(self, rows: int) -> None:
        self._rows = iter(range(rows))
        self._pending = HEADER

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while len(self._pending) < len(buffer):
            chunk = [self._row(n) for n in _take(self._rows, 512)]
            if not chunk:
                break
            self._pending += b"".join(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    @staticmethod
    def _row(n: int) -> bytes:
        gross = 10_000 + n % 900_000
        fee = n % 250
        net = gross - fee
        return (
            f"mpesa,RCP{n:012d},charge,{gross // 100}.{gross % 100:02d},{fee // 100}.{fee % 100:02d},"
            f"{net // 100}.{net % 100:02d},KES,2026-01-15T10:{n // 60 % 60:02d}:{n % 60:02d}+03:00,order-{n}\n"
        ).encode()


def _take(iterator, count):
    for _ in range(count):
        item = next(iterator, None)
        if item is None:
            return
        yield item


def parse_under_tracemalloc(rows):
    stream = io.BufferedReader(GeneratedStatement(rows), buffer_size=64 * 1024)
    count, total_net, last_number = 0, 0, 0
    tracemalloc.start()
    try:
        for line in open_statement("generic", stream, provider="mpesa").lines():
            count += 1
            total_net += line.net.minor
            last_number = line.line_number
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (count, last_number) == (rows, rows + 1)
    assert total_net == sum(10_000 + n % 900_000 - n % 250 for n in range(rows))
    return peak


def test_a_long_statement_streams_in_flat_memory():
    few = parse_under_tracemalloc(FEW_LINES)
    many = parse_under_tracemalloc(LINES)
    assert many < PEAK_LIMIT, f"peak {many / 2**20:.1f} MiB"
    assert many <= few + SLACK, f"peak grew from {few} to {many} bytes with ten times the lines"
