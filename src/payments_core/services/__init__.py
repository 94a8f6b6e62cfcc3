"""Use cases: one module per resource, each function one capability of the API."""
