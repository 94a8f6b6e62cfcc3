"""Calling the (synchronous) core from an async handler, on a thread pool of its own.

Litestar's `sync_to_thread` goes through anyio's worker threads: a task group, a cancel scope and
an event per call. The hottest reads take this lighter path instead (the event loop's own
`run_in_executor`), one future per call. The pool has as many threads as the database pool has
connections to give them; more would only queue on the pool.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_THREADS: Final = ThreadPoolExecutor(max_workers=10, thread_name_prefix="payments-core")


async def blocking(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_THREADS, functools.partial(function, *args, **kwargs))
