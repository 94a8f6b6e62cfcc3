"""payments_core: the pure domain of a multi-tenant payments engine.

No I/O, no framework, no clock and no randomness: what it needs from the world it receives
through the ports in `payments_core.ports`. Embed it with `payments_core.bootstrap(...)`.
"""

from payments_core.facade import PaymentsCore, bootstrap

__all__ = ["PaymentsCore", "bootstrap"]
