"""Test mode: drive a sandbox checkout session to completion or failure, as a customer on the
hosted page would, through the very path a provider's event takes (the sandbox signs a webhook
and delivers it into the core, which verifies it, records it and moves the session and payment).

Invariants
- Only test-mode credentials, only when the server offers the sandbox: a live credential, a
  server with `sandbox_enabled` off or without a sandbox answers 404 `RESOURCE_NOT_FOUND`, exactly
  as a route that does not exist.
- Only a pending, test-mode, sandbox session of the caller's tenant: the core reads it
  tenant-scoped (another tenant's id is 404); a live or non-sandbox session is 404 too; a
  session that already left pending is 400 `INVALID_OPERATION` with its `currentStatus`.
- Paying needs `payments:write` (it moves money in the test ledger) besides the core's
  `payments:read` for reading the session.
- The answer is the session as `GET /checkout/sessions/{id}` shows it, after the event applied.
- Payouts the same way: `/sandbox/withdrawals/{id}/settle` and `/fail` answer the sandbox's
  `payout.settled` / `payout.failed` for a processing (approved) test-mode withdrawal of the
  caller's tenant, for a holder of `finance:withdraw:approve`; anything else as above.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from adapters.providers.sandbox import SandboxProvider
from entrypoints.http.controllers.checkout import session_view_json
from entrypoints.http.controllers.wallet import withdrawal_json
from entrypoints.http.dependencies import Caller, Runtime
from entrypoints.http.runtime import HttpRuntime
from payments_core.errors import InvalidOperation, NotFound
from payments_core.policies import Operation, Principal, require_scope
from payments_core.states import CheckoutSessionStatus, WithdrawalStatus

SANDBOX = "sandbox"


def _test_mode_sandbox(runtime: HttpRuntime, principal: Principal, operation: Operation) -> SandboxProvider:
    """The sandbox, for a test-mode caller allowed `operation`; 404 as for no route otherwise."""
    sandbox = runtime.sandbox
    if sandbox is None or not runtime.settings.sandbox_enabled or principal.livemode:
        raise NotFoundException()
    require_scope(principal, operation)
    return sandbox


def _drive(runtime: HttpRuntime, principal: Principal, session_id: str, succeed: bool) -> dict[str, Any]:
    sandbox = _test_mode_sandbox(runtime, principal, Operation.CHECKOUT_CREATE)
    session = runtime.core.checkout.get_session(principal, session_id).session
    if session.livemode or session.provider != SANDBOX:
        raise NotFound("checkout_session not found", resource="checkout_session", id=session_id)
    if session.status is not CheckoutSessionStatus.PENDING:
        raise InvalidOperation("the checkout session is not pending", currentStatus=session.status.value)
    if succeed:
        sandbox.complete_checkout(session.provider_reference)
    else:
        sandbox.fail_checkout(session.provider_reference)
    return session_view_json(runtime.core.checkout.get_session(principal, session_id))


class SandboxController(Controller):
    path = "/sandbox/sessions"
    tags = ["sandbox (test mode)"]

    @post("/{session_id:str}/pay", status_code=200, sync_to_thread=True)
    def pay(self, runtime: Runtime, principal: Caller, session_id: FromPath[str]) -> dict[str, Any]:
        """The customer pays: the sandbox sends `payment.succeeded`."""
        return _drive(runtime, principal, session_id, succeed=True)

    @post("/{session_id:str}/fail", status_code=200, sync_to_thread=True)
    def fail(self, runtime: Runtime, principal: Caller, session_id: FromPath[str]) -> dict[str, Any]:
        """The payment is declined: the sandbox sends `payment.failed`."""
        return _drive(runtime, principal, session_id, succeed=False)


def _settle(runtime: HttpRuntime, principal: Principal, withdrawal_id: str, settle: bool) -> dict[str, Any]:
    sandbox = _test_mode_sandbox(runtime, principal, Operation.WITHDRAWAL_APPROVE)
    withdrawal = runtime.core.wallet.get_withdrawal(principal, withdrawal_id)
    if withdrawal.livemode or withdrawal.provider != SANDBOX:
        raise NotFound("withdrawal not found", resource="withdrawal", id=withdrawal_id)
    if withdrawal.status is not WithdrawalStatus.PROCESSING or withdrawal.provider_reference is None:
        raise InvalidOperation("the withdrawal is not being paid out", currentStatus=withdrawal.status.value)
    if settle:
        sandbox.settle_payout(withdrawal.provider_reference)
    else:
        sandbox.fail_payout(withdrawal.provider_reference)
    return withdrawal_json(runtime.core.wallet.get_withdrawal(principal, withdrawal_id))


class SandboxPayoutsController(Controller):
    path = "/sandbox/withdrawals"
    tags = ["sandbox (test mode)"]

    @post("/{withdrawal_id:str}/settle", status_code=200, sync_to_thread=True)
    def settle(self, runtime: Runtime, principal: Caller, withdrawal_id: FromPath[str]) -> dict[str, Any]:
        """The payout reaches the tenant: the sandbox sends `payout.settled`."""
        return _settle(runtime, principal, withdrawal_id, settle=True)

    @post("/{withdrawal_id:str}/fail", status_code=200, sync_to_thread=True)
    def fail(self, runtime: Runtime, principal: Caller, withdrawal_id: FromPath[str]) -> dict[str, Any]:
        """The payout bounces: the sandbox sends `payout.failed`; the wallet gets its money back."""
        return _settle(runtime, principal, withdrawal_id, settle=False)


ROUTES = [SandboxController, SandboxPayoutsController]
