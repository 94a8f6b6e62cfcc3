"""For services that embed the core: an in-memory deployment in one call (see `composition`)."""

from entrypoints.composition import in_memory_core, postgres_core

__all__ = ["in_memory_core", "postgres_core"]
