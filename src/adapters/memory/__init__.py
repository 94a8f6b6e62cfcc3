"""In-memory adapters: for the core's unit tests and for embedding without a database."""
