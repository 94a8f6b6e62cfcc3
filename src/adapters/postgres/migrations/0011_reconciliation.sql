-- Reconciliation runs and their breaks.
--
-- Invariants the database itself keeps:
-- * a statement (by digest) is reconciled once per (tenant, provider): unique key;
-- * a break belongs to a run of its own tenant (foreign key) and is never deleted: only its
--   resolution columns change (UPDATE is granted on status and doc alone);
-- * row-level security on both tables, like every tenant table.
-- A run's statement lines are staged in a temporary table of the run's own transaction, so
-- parallel runs never see each other's lines and a failed run leaves nothing behind.

CREATE TABLE reconciliation_runs (
    tenant_id text NOT NULL REFERENCES tenants (id) DEFERRABLE INITIALLY DEFERRED,
    id text COLLATE "C" NOT NULL,
    provider text NOT NULL,
    digest text NOT NULL,
    started_at timestamptz NOT NULL,
    doc jsonb NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, provider, digest)
);
CREATE INDEX reconciliation_runs_newest ON reconciliation_runs (tenant_id, started_at DESC, id DESC);

CREATE TABLE reconciliation_breaks (
    tenant_id text NOT NULL,
    id text COLLATE "C" NOT NULL,
    run_id text COLLATE "C" NOT NULL,
    kind text NOT NULL,
    status text NOT NULL CHECK (status IN ('open', 'resolved')),
    doc jsonb NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, run_id) REFERENCES reconciliation_runs (tenant_id, id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX reconciliation_breaks_of_run ON reconciliation_breaks (tenant_id, run_id, id);

ALTER TABLE reconciliation_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE reconciliation_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON reconciliation_runs USING (app_tenant_visible(tenant_id));
ALTER TABLE reconciliation_breaks ENABLE ROW LEVEL SECURITY;
ALTER TABLE reconciliation_breaks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON reconciliation_breaks USING (app_tenant_visible(tenant_id));

DO $$
BEGIN
    GRANT SELECT, INSERT ON reconciliation_runs, reconciliation_breaks TO payments_app;
    GRANT UPDATE (status, doc) ON reconciliation_breaks TO payments_app;
EXCEPTION
    WHEN undefined_object THEN NULL;
END $$;
