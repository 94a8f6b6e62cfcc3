"""The composition root and the ways in (CLI, and later HTTP). The only place that wires things."""
