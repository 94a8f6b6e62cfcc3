"""Authentication adapters: bearer JWTs (pyjwt) and one-time passwords (pyotp)."""
