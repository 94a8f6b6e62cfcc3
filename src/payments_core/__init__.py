"""payments_core: the pure domain of a multi-tenant payments engine.

No I/O, no framework, no clock and no randomness: what it needs from the world it receives
through the ports in `payments_core.ports`. Embed it with `payments_core.bootstrap(...)`.

The facade is imported on first use of `PaymentsCore` or `bootstrap`, not with the package: a
program that needs one module of the core (a statement parser, the money type) does not pay for
every service's import (0.2 s).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from payments_core.facade import PaymentsCore, bootstrap

__all__ = ["PaymentsCore", "bootstrap"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from payments_core import facade  # noqa: PLC0415 - on first use, see above

        value = getattr(facade, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'payments_core' has no attribute {name!r}")
