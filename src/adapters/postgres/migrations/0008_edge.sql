-- The API edge's shared stores: idempotency keys and rate-limit counters, one copy for every
-- worker process of a deployment (adapters/postgres/edge.py).
--
-- Invariants the database itself keeps:
-- * one idempotency key per (tenant_id, key): the same key in two tenants is two keys;
-- * a key is either in flight (status, body and content_type all NULL) or answered (all three
--   set, status an HTTP status);
-- * idempotency_keys hold tenant data (response bodies): row-level security, enabled and forced,
--   shows a transaction only the rows of its `app.tenant_id` ('*' = all: the expiry purge). No
--   foreign key to tenants: a key is a short-lived cache entry, and the hot path stays one lookup;
-- * rate_limit_hits hold no tenant data beyond a bucket name (a limit's name and a tenant, user
--   or client address) and a count, so no row-level security. The app role gets only what a hit
--   and the purge need: read, add a window, raise its count and end (hits, expires_at), delete
--   expired windows; no TRUNCATE, no change to a window's bucket or start;
-- * `expires_at` (indexed) is when a row stops mattering: the occasional purge deletes by it,
--   whatever the window or ttl each row was written with.

CREATE TABLE idempotency_keys (
    tenant_id text NOT NULL,
    key text NOT NULL,
    fingerprint text NOT NULL,
    claimed_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    status integer CHECK (status BETWEEN 100 AND 599),
    body bytea,
    content_type text,
    PRIMARY KEY (tenant_id, key),
    CONSTRAINT answered_whole CHECK (
        (status IS NULL) = (body IS NULL) AND (body IS NULL) = (content_type IS NULL))
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON idempotency_keys USING (app_tenant_visible(tenant_id));

CREATE TABLE rate_limit_hits (
    bucket text NOT NULL,
    window_start timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    hits integer NOT NULL CHECK (hits > 0),
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_limit_hits_expiry ON rate_limit_hits (expires_at);

DO $$
BEGIN
    GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO payments_app;
    GRANT SELECT, INSERT, DELETE ON rate_limit_hits TO payments_app;
    GRANT UPDATE (hits, expires_at) ON rate_limit_hits TO payments_app;
EXCEPTION
    WHEN undefined_object THEN NULL;
END $$;
