"""The request class of the whole API: JSON bodies decoded without ever passing through a float.

Litestar decodes a body untyped and then converts it to the handler's Struct; with a plain decoder
`1000.000000000000000000000000001` would reach a `Decimal` field as the float 1000.0. Here every
JSON number with a fraction or an exponent is an exact `Decimal` from the start (an integer field
then refuses it, as it should), and a body that is not JSON is 400 `INVALID_PARAMETER`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

import msgspec
from litestar import Request
from litestar.types import Empty

from entrypoints.http.errors import ApiError

_EXACT_JSON: Final = msgspec.json.Decoder(float_hook=Decimal)


class ExactJsonRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        if self._json is Empty:
            try:
                self._json = _EXACT_JSON.decode(await self.body() or b"null")
            except msgspec.DecodeError:
                raise ApiError("INVALID_PARAMETER", "the request body is not valid JSON") from None
        return self._json
