"""Parse a statement in a child process while this one feeds the database.

A statement's lines are parsed in pure Python (about 5 µs a line) and then sent with COPY, which
also costs this process time. Parsing in a forked child, handing lines over in pickled chunks
(about 0.5 µs a line to read back), lets the two run on two cores. Errors cross as data: a
malformed row is raised here as the same `StatementError`, with its line number; anything else
in the child is raised as `RuntimeError` naming only its type. The child is stopped whenever the
consumer stops early (an error, a failed COPY).
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Final

from adapters.statements import StatementError
from payments_core.model.reconciliation import StagedLine
from payments_core.ports import StatementSource

CHUNK: Final = 5_000
_LINES, _DONE, _BAD_ROW, _FAILED = "lines", "done", "bad_row", "failed"


def _produce(source: StatementSource, sender: Connection) -> None:
    try:
        chunk: list[StagedLine] = []
        for line in source.staged():
            chunk.append(line)
            if len(chunk) >= CHUNK:
                sender.send((_LINES, chunk))
                chunk = []
        sender.send((_LINES, chunk))
        sender.send((_DONE, None))
    except StatementError as error:
        sender.send((_BAD_ROW, (error.line_number, error.reason)))
    except Exception as error:
        traceback.clear_frames(error.__traceback__)
        sender.send((_FAILED, type(error).__name__))
    finally:
        sender.close()


def prefetched(source: StatementSource) -> Iterator[StagedLine]:
    """`source.staged()`, parsed by a forked child; in-process where fork is not available."""
    if "fork" not in multiprocessing.get_all_start_methods():
        yield from source.staged()
        return
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_produce, args=(source, sender), daemon=True)
    child.start()
    sender.close()
    try:
        while True:
            kind, payload = receiver.recv()
            if kind == _LINES:
                yield from payload
            elif kind == _DONE:
                return
            elif kind == _BAD_ROW:
                number, reason = payload
                raise StatementError(number, reason)
            else:
                raise RuntimeError(f"the statement parser failed ({payload})")
    except EOFError:
        raise RuntimeError("the statement parser stopped without an answer") from None
    finally:
        receiver.close()
        if child.is_alive():
            child.terminate()
        child.join()
