"""People's TOTP factors on PostgreSQL: one row per (tenant, user), the sealed secret inside `doc`.

Invariants
- Same answers as `adapters.memory.tables.MfaFactors`: `get` finds the tenant's own factor only,
  `save` inserts or replaces it whole.
- `get` locks the row until the transaction ends, so two verifications of one person's codes run one
  after the other and the second sees the step the first spent: a code is never accepted twice.
- The secret is stored as the core sealed it; this adapter never sees a plaintext.
"""

from __future__ import annotations

from adapters.postgres.rows import Repository, Table
from payments_core.model.access import MfaFactor

MFA_FACTORS = Table(
    "mfa_factors",
    MfaFactor,
    ("tenant_id", "user_id"),
    ("tenant_id", "user_id", "created_at", "confirmed_at"),
)


class MfaFactors(Repository[MfaFactor]):
    table = MFA_FACTORS
    resource = "mfa_factor"

    def get(self, tenant_id: str, user_id: str) -> MfaFactor | None:
        return self._get(tenant_id, tenant_id, user_id)

    def save(self, factor: MfaFactor) -> None:
        self._upsert(factor.tenant_id, factor)
