"""An in-memory deployment of the core, for services that embed it (and for the demo).

    core, sandbox = in_memory_core()

Real time, random ids and secrets, in-memory storage, and the sandbox provider wired so that
its webhooks reach the core at once, as they would over HTTP.
"""

from __future__ import annotations

from adapters.memory.system import InMemorySecretBox, RandomIds, RandomSecrets, SystemClock
from adapters.memory.uow import InMemoryStore, InMemoryUnitOfWorkFactory
from adapters.providers.sandbox import SandboxProvider, Webhook
from payments_core import PaymentsCore, bootstrap
from payments_core.ports import Clock


def in_memory_core(
    clock: Clock | None = None, sandbox_secret: str | None = None
) -> tuple[PaymentsCore, SandboxProvider]:
    clock = clock or SystemClock()
    secrets = RandomSecrets()
    sandbox = SandboxProvider(clock, signing_secret=sandbox_secret or f"whsec_{secrets.token(24)}")
    core = bootstrap(
        uow=InMemoryUnitOfWorkFactory(InMemoryStore(clock)),
        providers={"sandbox": sandbox},
        clock=clock,
        ids=RandomIds(),
        secrets=secrets,
        secret_box=InMemorySecretBox(),
    )

    def deliver(webhook: Webhook) -> object:
        return core.provider_events.receive_webhook("sandbox", webhook.headers, webhook.body)

    sandbox.deliver = deliver
    return core, sandbox
