"""Encryption at rest for secrets the platform must be able to read back (provider credentials,
webhook signing secrets)."""
