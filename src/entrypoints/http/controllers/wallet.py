"""Routes of this resource; see the module docstring of each handler's seed."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
