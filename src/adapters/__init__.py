"""Implementations of the core's ports. Sub-packages never import each other."""
