"""`open_statement`: the parser for a provider's statement, chosen by the provider's name."""

from __future__ import annotations

from typing import Any

from adapters.statements.generic import GenericStatement
from adapters.statements.mercadopago import MercadoPagoStatement
from adapters.statements.mpesa import MpesaStatement
from adapters.statements.paystack import PaystackStatement
from adapters.statements.reading import Source
from adapters.statements.stripe import StripeStatement
from payments_core.errors import ValidationError
from payments_core.ports import StatementSource

PARSERS: dict[str, type[StatementSource]] = {
    "stripe": StripeStatement,
    "mercadopago": MercadoPagoStatement,
    "mpesa": MpesaStatement,
    "paystack": PaystackStatement,
    "generic": GenericStatement,
}


def open_statement(provider: str, path: Source, /, **options: Any) -> StatementSource:
    """The statement of `provider` at `path` (or an open stream); `options` go to its parser.

    Nothing is read until `lines()` is iterated. Options: stripe `reference_column`; mercadopago
    `currency` (required); mpesa `columns` (an `MpesaColumns`); paystack `minor_units`; generic
    `provider`.
    """
    parser = PARSERS.get(provider)
    if parser is None:
        raise ValidationError(
            f"no statement parser for provider {provider[:40]!r}",
            provider=provider[:40],
            known=sorted(PARSERS),
        )
    try:
        return parser(path, **options)  # type: ignore[call-arg]
    except TypeError as error:
        raise ValidationError(f"bad options for the {provider} statement: {error}") from None
