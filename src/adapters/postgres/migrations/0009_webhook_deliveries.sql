-- Outbound webhook deliveries: the delivery worker's state, kept beside the append-only outbox
-- (adapters/postgres/deliveries.py).
--
-- Invariants the database itself keeps:
-- * one delivery per (tenant_id, event_id, endpoint_id), and each names an outbox event and a
--   webhook endpoint of its own tenant (foreign keys): concurrent fan-outs cannot add a second;
-- * an event is fanned out once (webhook_fanouts, keyed like the outbox), recorded in the same
--   transaction as its deliveries, so an event that no endpoint wants is not read again either;
-- * status is one of DeliveryStatus's values; `delivered_at` is set exactly when delivered;
--   `attempts` and `version` never go below zero; `last_error` is short (the core writes it,
--   never a response body or a secret); `last_status_code` an HTTP status;
-- * row-level security, enabled and forced, on both tables: a transaction sees only the rows of
--   its `app.tenant_id` ('*' = all: the worker's fan-out and claims);
-- * the app role may read and add deliveries and change only their moving parts (no DELETE, no
--   change of a delivery's event, endpoint or tenant); fan-out records are append-only for it;
-- * due deliveries are found through a partial index on `next_attempt_at`, and new outbox
--   events through an index on `created_at` (the fan-out reads the last 3 days only).

CREATE TABLE webhook_deliveries (
    tenant_id text NOT NULL,
    id text COLLATE "C" NOT NULL,
    event_id text COLLATE "C" NOT NULL,
    endpoint_id text COLLATE "C" NOT NULL,
    event_type text NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'delivered', 'retrying', 'failed')),
    attempts integer NOT NULL CHECK (attempts >= 0),
    version bigint NOT NULL CHECK (version >= 0),
    created_at timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    retry_until timestamptz NOT NULL,
    last_status_code integer CHECK (last_status_code BETWEEN 100 AND 599),
    last_error text CHECK (char_length(last_error) <= 200),
    delivered_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, event_id, endpoint_id),
    FOREIGN KEY (tenant_id, event_id) REFERENCES outbox_events (tenant_id, id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id),
    CONSTRAINT delivered_when_delivered CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id)
    WHERE status IN ('pending', 'retrying');
CREATE INDEX webhook_deliveries_newest ON webhook_deliveries (tenant_id, created_at DESC, id DESC);

CREATE TABLE webhook_fanouts (
    tenant_id text NOT NULL,
    event_id text COLLATE "C" NOT NULL,
    fanned_out_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id),
    FOREIGN KEY (tenant_id, event_id) REFERENCES outbox_events (tenant_id, id)
);

CREATE INDEX outbox_events_by_created ON outbox_events (created_at);

ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON webhook_deliveries USING (app_tenant_visible(tenant_id));

ALTER TABLE webhook_fanouts ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_fanouts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON webhook_fanouts USING (app_tenant_visible(tenant_id));

DO $$
BEGIN
    GRANT SELECT, INSERT ON webhook_deliveries, webhook_fanouts TO payments_app;
    GRANT UPDATE (status, attempts, version, next_attempt_at, retry_until, last_status_code, last_error,
                  delivered_at) ON webhook_deliveries TO payments_app;
EXCEPTION
    WHEN undefined_object THEN NULL;
END $$;
