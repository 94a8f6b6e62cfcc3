"""One module per resource. Each exposes `ROUTES`, the handlers `app.py` mounts under `/api/v1`."""
