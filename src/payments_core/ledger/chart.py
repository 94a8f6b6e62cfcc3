"""The per-tenant chart of accounts.

Invariants
- Every account belongs to exactly one tenant, the platform's side of that tenant's money
  included: no row is written by every tenant's hot path, and the data shards by tenant.
- An account id is derived from (tenant, role, provider, currency), so any process can name an
  account without a lookup and opening the chart twice opens nothing new.
- `wallet` (what the tenant may withdraw) can never go negative: it is flagged
  `debits_must_not_exceed_credits`, counting pending debits (holds).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

import attrs

from payments_core.errors import ValidationError
from payments_core.ledger.accounts import NO_FLAGS, Account, AccountFlags, check_identifier
from payments_core.money import exponent_of


class AccountCode(StrEnum):
    WALLET = "wallet"
    PROVIDER_CLEARING = "provider_clearing"
    PLATFORM_FEES = "platform_fees"
    PAYOUTS_IN_TRANSIT = "payouts_in_transit"
    RECON_SUSPENSE = "recon_suspense"
    EXTERNAL = "external"


_FLAGS = {AccountCode.WALLET: AccountFlags(debits_must_not_exceed_credits=True)}


@attrs.frozen
class Chart:
    """Names and opens one tenant's accounts."""

    tenant_id: str

    def __attrs_post_init__(self) -> None:
        check_identifier("tenant id", self.tenant_id)

    def account_id(self, code: AccountCode, currency: str, provider: str | None = None) -> str:
        exponent_of(currency)
        if (provider is None) != (code is not AccountCode.PROVIDER_CLEARING):
            raise ValidationError("only provider_clearing accounts name a provider")
        role = f"{code.value}:{provider}" if provider is not None else code.value
        return f"{self.tenant_id}/{role}/{currency}"

    def wallet(self, currency: str) -> str:
        return self.account_id(AccountCode.WALLET, currency)

    def clearing(self, provider: str, currency: str) -> str:
        check_identifier("provider", provider)
        return self.account_id(AccountCode.PROVIDER_CLEARING, currency, provider)

    def platform_fees(self, currency: str) -> str:
        return self.account_id(AccountCode.PLATFORM_FEES, currency)

    def payouts_in_transit(self, currency: str) -> str:
        return self.account_id(AccountCode.PAYOUTS_IN_TRANSIT, currency)

    def recon_suspense(self, currency: str) -> str:
        return self.account_id(AccountCode.RECON_SUSPENSE, currency)

    def external(self, currency: str) -> str:
        return self.account_id(AccountCode.EXTERNAL, currency)

    def account(self, code: AccountCode, currency: str, provider: str | None = None) -> Account:
        return Account(
            id=self.account_id(code, currency, provider),
            tenant_id=self.tenant_id,
            code=code.value,
            currency=currency,
            flags=_FLAGS.get(code, NO_FLAGS),
        )

    def accounts(self, currency: str, providers: Iterable[str]) -> tuple[Account, ...]:
        """Every account the tenant needs to take money in `currency` through `providers`."""
        fixed = [code for code in AccountCode if code is not AccountCode.PROVIDER_CLEARING]
        return tuple(self.account(code, currency) for code in fixed) + tuple(
            self.account(AccountCode.PROVIDER_CLEARING, currency, provider)
            for provider in sorted(set(providers))
        )
