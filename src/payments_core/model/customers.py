"""A customer's payment preferences, as a tenant's conversational checkout remembers them.

Invariants
- At most one saved method is the default; when methods exist and none is marked, none is.
- Saving the same provider and details twice updates the saved method instead of duplicating it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import attrs

from payments_core.model.common import aware, freeze_strings


@attrs.frozen
class SavedMethod:
    id: str
    provider: str
    details: Mapping[str, str] = attrs.field(converter=freeze_strings)
    saved_at: datetime = attrs.field(validator=aware)
    is_default: bool = False


@attrs.frozen
class CustomerPreferences:
    tenant_id: str
    customer_id: str
    preferred_provider: str | None = None
    saved_methods: tuple[SavedMethod, ...] = ()
    updated_at: datetime | None = attrs.field(default=None, validator=aware)

    @property
    def default_method(self) -> SavedMethod | None:
        return next((m for m in self.saved_methods if m.is_default), None)

    def method(self, method_id: str) -> SavedMethod | None:
        return next((m for m in self.saved_methods if m.id == method_id), None)

    def with_default(self, method_id: str | None) -> tuple[SavedMethod, ...]:
        return tuple(attrs.evolve(m, is_default=m.id == method_id) for m in self.saved_methods)
