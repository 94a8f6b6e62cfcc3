-- The aggregates: one table per repository, each row the whole aggregate as `doc` (jsonb).
--
-- Invariants the database itself keeps:
-- * `tenant_id` first in every key; (tenant_id, id) primary keys, except tenants (id, with a
--   generated tenant_id = id), customer_preferences (tenant_id, customer_id), provider_configs
--   (tenant_id, provider), payment_links (tenant_id, slug; the slug is unique across tenants too)
--   and provider_events ((provider, event_id): an inbound event is recorded once, whoever sends it);
-- * the real columns are copies of `doc` fields that queries filter or sort on, written from the
--   same aggregate in the same statement; `doc` is what is read back;
-- * ids that results are sorted by use the "C" collation, so the order is the code-point order
--   the in-memory store uses, whatever the database's default collation;
-- * idempotency keys are unique per tenant, API key hashes and webhook URL ids across tenants;
-- * every tenant-owned row references its tenant; a refund references its payment (both checked
--   at commit, so one unit of work may write them in any order);
-- * `seq` records insertion order: lookups that may match several rows answer the first inserted,
--   like the in-memory store;
-- * audit_events and outbox_events are append-only for the application role (SELECT, INSERT
--   only); audit_events refuse UPDATE, DELETE and TRUNCATE for everyone (trigger);
-- * row-level security on every table (provider_events too: NULL-tenant rows are visible only to
--   the '*' scope that records them).

CREATE TABLE tenants (
    id text NOT NULL PRIMARY KEY,
    tenant_id text NOT NULL GENERATED ALWAYS AS (id) STORED,
    created_at timestamptz NOT NULL,
    doc jsonb NOT NULL
);

CREATE TABLE payments (
    tenant_id text NOT NULL REFERENCES tenants (id) DEFERRABLE INITIALLY DEFERRED,
    id text COLLATE "C" NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    status text NOT NULL,
    provider text NOT NULL,
    provider_reference text,
    session_id text,
    created_at timestamptz NOT NULL,
    doc jsonb NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX payments_newest ON payments (tenant_id, created_at DESC, id DESC);
CREATE INDEX payments_by_status ON payments (tenant_id, status, created_at DESC, id DESC);
CREATE INDEX payments_by_provider_reference ON payments (provider, provider_reference, seq)
    WHERE provider_reference IS NOT NULL;

CREATE TABLE checkout_sessions (
    tenant_id text NOT NULL REFERENCES tenants (id) DEFERRABLE INITIALLY DEFERRED,
    id text COLLATE "C" NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    payment_id text NOT NULL,
    status text NOT NULL,
    provider text NOT NULL,
    provider_reference text NOT NULL,
    idempotency_key text,
    client_phone_number text,
    link_slug text,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    doc jsonb NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX checkout_sessions_idempotency ON checkout_sessions (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX checkout_sessions_by_provider_reference ON checkout_sessions (provider, provider_reference, seq);
CREATE INDEX checkout_sessions_by_phone ON checkout_sessions
    (tenant_id, client_phone_number, created_at DESC, id DESC) WHERE client_phone_number IS NOT NULL;
CREATE INDEX checkout_sessions_due ON checkout_sessions (expires_at, id, seq) WHERE status = 'pending';

CREATE TABLE refunds (
    tenant_id text NOT NULL REFERENCES tenants (id) DEFERRABLE INITIALLY DEFERRED,
    id text COLLATE "C" NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    payment_id text COLLATE "C" NOT NULL,
    status text NOT NULL,
    provider text NOT NULL,
    provider_refund_id text,
    created_at timestamptz NOT NULL,
    doc jsonb NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, payment_id) REFERENCES payments (tenant_id, id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX refunds_of_payment ON refunds (tenant_id, payment_id, created_at, id);
CREATE INDEX refunds_by_provider_reference ON refunds (provider, provider_refund_id, seq)
    WHERE provider_refund_id IS NOT NULL;

CREATE TABLE customer_preferences (
    tenant_id text NOT NULL REFERENCES tenants (id) DEFERRABLE INITIALLY DEFERRED,
    customer_id text NOT NULL,
    updated_at timestamptz,
    doc jsonb NOT NULL,
    PRIMARY KEY (tenant_id, customer_id)
);

CREATE TABLE payment_links (
    tenant_id text NOT NULL REFERENCES tenants (id) DEFERRABLE INITIALLY DEFERRED,
    slug text NOT NULL,
    status text NOT NULL,
    expires_at timestamptz,
    created_at timestamptz NOT NULL,
    doc jsonb NOT NULL,
    PRIMARY KEY (tenant_id, slug)
);
CREATE UNIQUE INDEX payment_links_slug ON payment_links (slug);

CREATE TABLE withdrawals (
    tenant_id text NOT NULL REFERENCES tenants (id) DEFERRABLE INITIALLY DEFERRED,
    id text COLLATE "C" NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    status text NOT NULL,
    provider text NOT NULL,
    provider_reference text,
    idempotency_key text,
    created_at timestamptz NOT NULL,
    doc jsonb NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX withdrawals_idempotency ON withdrawals (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX withdrawals_newest ON withdrawals (tenant_id, created_at DESC, id DESC);
CREATE INDEX withdrawals_by_status ON withdrawals (tenant_id, status, created_at DESC, id DESC);
CREATE INDEX withdrawals_by_provider_reference ON withdrawals (provider, provider_reference, seq)
    WHERE provider_reference IS NOT NULL;

CREATE TABLE api_keys (
    tenant_id text NOT NULL REFERENCES tenants (id) DEFERRABLE INITIALLY DEFERRED,
    id text COLLATE "C" NOT NULL,
    secret_hash text NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz,
    doc jsonb NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX api_keys_secret_hash ON api_keys (secret_hash);
CREATE INDEX api_keys_oldest ON api_keys (tenant_id, created_at, id);

CREATE TABLE provider_configs (
    tenant_id text NOT NULL REFERENCES tenants (id) DEFERRABLE INITIALLY DEFERRED,
    provider text NOT NULL,
    id text NOT NULL,
    url_id text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    doc jsonb NOT NULL,
    PRIMARY KEY (tenant_id, provider)
);
CREATE UNIQUE INDEX provider_configs_url_id ON provider_configs (url_id);

CREATE TABLE webhook_endpoints (
    tenant_id text NOT NULL REFERENCES tenants (id) DEFERRABLE INITIALLY DEFERRED,
    id text COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL,
    deleted_at timestamptz,
    doc jsonb NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhook_endpoints_active ON webhook_endpoints (tenant_id, created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE outbox_events (
    tenant_id text NOT NULL REFERENCES tenants (id) DEFERRABLE INITIALLY DEFERRED,
    id text COLLATE "C" NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    type text NOT NULL,
    endpoint_id text,
    created_at timestamptz NOT NULL,
    doc jsonb NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX outbox_events_oldest ON outbox_events (tenant_id, created_at, id);
CREATE INDEX outbox_events_in_order ON outbox_events (seq);

CREATE TABLE audit_events (
    tenant_id text NOT NULL REFERENCES tenants (id) DEFERRABLE INITIALLY DEFERRED,
    id text COLLATE "C" NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    action text NOT NULL,
    target_id text NOT NULL,
    at timestamptz NOT NULL,
    doc jsonb NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_events_newest ON audit_events (tenant_id, at DESC, id DESC);
CREATE INDEX audit_events_by_action ON audit_events (tenant_id, action, at DESC, id DESC);
CREATE INDEX audit_events_by_target ON audit_events (tenant_id, target_id, at DESC, id DESC);

CREATE TABLE provider_events (
    provider text NOT NULL,
    event_id text NOT NULL,
    tenant_id text,
    type text NOT NULL,
    reference text NOT NULL,
    received_at timestamptz NOT NULL,
    doc jsonb NOT NULL,
    PRIMARY KEY (provider, event_id)
);
CREATE INDEX provider_events_by_reference ON provider_events (provider, reference);

CREATE FUNCTION refuse_append_only_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'APPEND_ONLY',
        DETAIL = json_build_object('table', TG_TABLE_NAME)::text,
        HINT = 'this table is append-only: record a new event instead';
END $$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenants', 'payments', 'checkout_sessions', 'refunds', 'customer_preferences',
                             'payment_links', 'withdrawals', 'api_keys', 'provider_configs',
                             'webhook_endpoints', 'outbox_events', 'audit_events', 'provider_events']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_rows ON %I USING (app_tenant_visible(tenant_id))', t);
    END LOOP;
END $$;

DO $$
BEGIN
    GRANT SELECT, INSERT, UPDATE ON tenants, payments, checkout_sessions, refunds, customer_preferences,
        payment_links, withdrawals, api_keys, provider_configs, webhook_endpoints TO payments_app;
    GRANT SELECT, INSERT ON outbox_events, audit_events, provider_events TO payments_app;
EXCEPTION
    WHEN undefined_object THEN NULL;
END $$;
