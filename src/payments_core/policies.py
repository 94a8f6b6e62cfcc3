"""Who may do what: scopes per operation, four-eyes withdrawals, MFA step-up. A policy is a table.

Invariants
- Every `Operation` has an entry in `REQUIRED_SCOPES` (checked at import); holding ANY ONE of its
  scopes suffices. An operation missing from the table would be silently open, so it cannot be.
- A `Principal` always belongs to exactly one tenant and has a non-blank subject; an API key never
  carries an MFA time, and a user's MFA time is timezone-aware.
- A withdrawal is approved only by a user (never an API key) holding `finance:withdraw:approve`
  who is not its initiator.
- Step-up: a user's MFA is fresh when `-CLOCK_SKEW <= now - mfa_verified_at <= freshness`, both
  ends inclusive. An API key may only create payments (server to server); every other step-up
  action needs a person.
- No clock: `now` is always passed in and must be timezone-aware.
- Refusals raise the domain errors of `payments_core.errors`, never return a flag.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Final

import attrs

from payments_core.errors import (
    FourEyesViolation,
    InsufficientPermissions,
    MfaChallengeRequired,
    ValidationError,
)


class Scope(StrEnum):
    """The scope strings tokens and API keys carry; spelled as published, dots and colons alike."""

    CONVERSATIONS_VIEW = "conversations:view"
    FINANCE_VIEW = "finance:view"
    FINANCE_WITHDRAW_INITIATE = "finance:withdraw:initiate"
    FINANCE_WITHDRAW_APPROVE = "finance:withdraw:approve"
    REFUNDS_CREATE = "refunds:create"
    API_KEYS_MANAGE = "api_keys.manage"
    WEBHOOKS_MANAGE = "webhooks.manage"
    PAYMENTS_READ = "payments:read"
    PAYMENTS_WRITE = "payments:write"


class PrincipalKind(StrEnum):
    USER = "user"
    API_KEY = "api_key"


def _is_aware(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() is not None


def _check_non_blank(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{attribute.name} must be a non-empty string", field=attribute.name)


def _check_kind(_: object, __: attrs.Attribute[PrincipalKind], value: PrincipalKind) -> None:
    if not isinstance(value, PrincipalKind):
        raise ValidationError(
            "unknown principal kind",
            field="kind",
            allowedValues=sorted(kind.value for kind in PrincipalKind),
        )


def _to_scopes(value: Iterable[str]) -> frozenset[str]:
    """A bare string would become a set of characters; refuse it instead."""
    if isinstance(value, str):
        raise ValidationError("scopes must be a collection of strings, not one string")
    scopes = frozenset(value)
    if not all(isinstance(scope, str) for scope in scopes):
        raise ValidationError("every scope must be a string", field="scopes")
    return scopes


def _check_mfa(instance: Principal, _: attrs.Attribute[datetime | None], value: datetime | None) -> None:
    if value is None:
        return
    if instance.kind is PrincipalKind.API_KEY:
        raise ValidationError("an API key has no MFA verification", field="mfa_verified_at")
    if not isinstance(value, datetime) or not _is_aware(value):
        raise ValidationError("mfa_verified_at must be timezone-aware", field="mfa_verified_at")


@attrs.frozen
class Principal:
    """Who is calling: a person (JWT) or an API key, always inside one tenant."""

    tenant_id: str = attrs.field(validator=_check_non_blank)
    kind: PrincipalKind = attrs.field(validator=_check_kind)
    subject: str = attrs.field(validator=_check_non_blank)
    scopes: frozenset[str] = attrs.field(converter=_to_scopes)
    mfa_verified_at: datetime | None = attrs.field(default=None, validator=_check_mfa)
    # False for test-mode credentials (`sk_test_…`): they reach only the sandbox provider.
    livemode: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))

    @classmethod
    def user(
        cls,
        tenant_id: str,
        user_id: str,
        scopes: Iterable[str],
        mfa_verified_at: datetime | None = None,
        livemode: bool = True,
    ) -> Principal:
        return cls(tenant_id, PrincipalKind.USER, user_id, scopes, mfa_verified_at, livemode)

    @classmethod
    def api_key(cls, tenant_id: str, key_id: str, scopes: Iterable[str], livemode: bool = True) -> Principal:
        return cls(tenant_id, PrincipalKind.API_KEY, key_id, scopes, None, livemode)

    @property
    def is_user(self) -> bool:
        return self.kind is PrincipalKind.USER

    def has_scope(self, scope: Scope) -> bool:
        return scope.value in self.scopes


class Operation(StrEnum):
    """One per capability of the API; the unit a scope is checked against."""

    PAYMENT_SESSIONS_READ = "payment_sessions.read"
    PROVIDER_CONFIG_READ = "provider_config.read"
    PROVIDER_CONFIG_WRITE = "provider_config.write"
    PAYMENTS_READ = "payments.read"
    PAYMENTS_CREATE = "payments.create"
    PAYMENTS_CANCEL = "payments.cancel"
    PAYMENTS_REFUND = "payments.refund"
    CHECKOUT_CREATE = "checkout.create"
    CHECKOUT_READ = "checkout.read"
    ORDER_CHECKOUT = "order.checkout"
    CUSTOMER_PREFERENCES_READ = "customer_preferences.read"
    CUSTOMER_PREFERENCES_WRITE = "customer_preferences.write"
    CHECKOUT_OPTIONS_READ = "checkout_options.read"
    WALLET_READ = "wallet.read"
    WITHDRAWAL_INITIATE = "withdrawal.initiate"
    WITHDRAWAL_APPROVE = "withdrawal.approve"
    WITHDRAWAL_CANCEL = "withdrawal.cancel"
    REFUNDS_CREATE = "refunds.create"
    LINKS_MANAGE = "links.manage"
    API_KEYS_MANAGE = "api_keys.manage"
    WEBHOOKS_MANAGE = "webhooks.manage"
    AUDIT_READ = "audit.read"
    RECONCILIATION_READ = "reconciliation.read"
    RECONCILIATION_RUN = "reconciliation.run"
    RECONCILIATION_RESOLVE = "reconciliation.resolve"


_READ: Final = frozenset({Scope.PAYMENTS_READ})
_WRITE: Final = frozenset({Scope.PAYMENTS_WRITE})
_REFUND: Final = frozenset({Scope.REFUNDS_CREATE})
_CONVERSATIONS: Final = frozenset({Scope.CONVERSATIONS_VIEW})
_FINANCE: Final = frozenset({Scope.FINANCE_VIEW})

# ANY ONE of an operation's scopes suffices.
REQUIRED_SCOPES: Final[Mapping[Operation, frozenset[Scope]]] = MappingProxyType(
    {
        Operation.PAYMENT_SESSIONS_READ: _READ,
        Operation.PAYMENTS_READ: _READ,
        Operation.CHECKOUT_READ: _READ,
        Operation.PROVIDER_CONFIG_READ: _READ,
        Operation.PAYMENTS_CREATE: _WRITE,
        Operation.PAYMENTS_CANCEL: _WRITE,
        Operation.CHECKOUT_CREATE: _WRITE,
        Operation.LINKS_MANAGE: _WRITE,
        Operation.PROVIDER_CONFIG_WRITE: _WRITE,
        Operation.PAYMENTS_REFUND: _REFUND,
        Operation.REFUNDS_CREATE: _REFUND,
        Operation.ORDER_CHECKOUT: frozenset({Scope.PAYMENTS_WRITE, Scope.CONVERSATIONS_VIEW}),
        Operation.CUSTOMER_PREFERENCES_READ: _CONVERSATIONS,
        Operation.CUSTOMER_PREFERENCES_WRITE: _CONVERSATIONS,
        Operation.CHECKOUT_OPTIONS_READ: _CONVERSATIONS,
        Operation.WALLET_READ: _FINANCE,
        Operation.AUDIT_READ: _FINANCE,
        Operation.RECONCILIATION_READ: _FINANCE,
        Operation.RECONCILIATION_RUN: _FINANCE,
        # Accepting a break posts money through recon_suspense: an approver's act, like a payout.
        Operation.RECONCILIATION_RESOLVE: frozenset({Scope.FINANCE_WITHDRAW_APPROVE}),
        Operation.WITHDRAWAL_INITIATE: frozenset({Scope.FINANCE_WITHDRAW_INITIATE}),
        Operation.WITHDRAWAL_APPROVE: frozenset({Scope.FINANCE_WITHDRAW_APPROVE}),
        Operation.WITHDRAWAL_CANCEL: frozenset(
            {
                Scope.FINANCE_WITHDRAW_INITIATE,
                Scope.FINANCE_WITHDRAW_APPROVE,
            }
        ),
        Operation.API_KEYS_MANAGE: frozenset({Scope.API_KEYS_MANAGE}),
        Operation.WEBHOOKS_MANAGE: frozenset({Scope.WEBHOOKS_MANAGE}),
    }
)

_unmapped = set(Operation) - set(REQUIRED_SCOPES)
if _unmapped:  # an operation without an entry would be open to everyone
    raise RuntimeError(f"operations without required scopes: {sorted(_unmapped)}")


def require_scope(principal: Principal, operation: Operation) -> None:
    """Raise `InsufficientPermissions` unless the principal holds one of the operation's scopes."""
    required = REQUIRED_SCOPES[operation]
    if any(principal.has_scope(scope) for scope in required):
        return
    names = sorted(scope.value for scope in required)
    raise InsufficientPermissions(f"Missing required scope: {names[0]}", requiredScopes=names)


def require_four_eyes(approver: Principal, initiator_subject: str) -> None:
    """A second, authenticated person with the approve scope must sign off a withdrawal."""
    if not approver.is_user:
        raise FourEyesViolation("An API key cannot approve a withdrawal", reason="api_key")
    if approver.subject == initiator_subject:
        raise FourEyesViolation(
            "Approver must be different from initiator (four-eyes approval)", reason="same_user"
        )
    require_scope(approver, Operation.WITHDRAWAL_APPROVE)


class StepUpAction(StrEnum):
    """Sensitive actions that need a recent MFA from a person."""

    CREATE_PAYMENT = "create-payment"
    REFUND = "refund"
    API_KEYS = "api-keys"
    WEBHOOKS = "webhooks"
    PROVIDER_CONFIG = "provider-config"  # replacing a provider credential redirects money
    RECONCILIATION = "reconciliation"  # accepting a break posts through recon_suspense


MFA_FRESHNESS: Final = timedelta(minutes=5)
# Tolerated lead of the MFA time over `now`: clocks of the issuer and of the caller differ.
CLOCK_SKEW: Final = timedelta(seconds=30)


def require_step_up(
    principal: Principal,
    action: StepUpAction,
    now: datetime,
    freshness: timedelta = MFA_FRESHNESS,
) -> None:
    """Refuse a sensitive action unless a person verified MFA recently (or an API key pays)."""
    if not isinstance(now, datetime) or not _is_aware(now):
        raise ValidationError("now must be a timezone-aware datetime", field="now")
    if freshness < timedelta(0):
        raise ValidationError("freshness must not be negative", field="freshness")
    if not principal.is_user:
        if action is StepUpAction.CREATE_PAYMENT:
            return  # a server-to-server payment is not user-initiated
        raise InsufficientPermissions(
            "This action requires an authenticated user",
            reason="user_required",
            action=action.value,
        )
    verified_at = principal.mfa_verified_at
    if verified_at is None or not -CLOCK_SKEW <= now - verified_at <= freshness:
        raise MfaChallengeRequired("MFA required", action=action.value)
