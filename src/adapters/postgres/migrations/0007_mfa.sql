-- People's TOTP factors: one row per (tenant, user), the whole factor as `doc` (jsonb).
--
-- Invariants the database itself keeps:
-- * (tenant_id, user_id) is the primary key: a person has at most one factor per tenant;
-- * the real columns are copies of `doc` fields, written from the same factor in the same
--   statement; `doc` is what is read back, its secret sealed by the application;
-- * every row references its tenant (checked at commit, like the aggregates of 0003);
-- * row-level security, forced for the owner too: a transaction sees its own tenant's factors only;
-- * the application role may read, insert and update factors, never delete them.

CREATE TABLE mfa_factors (
    tenant_id text NOT NULL REFERENCES tenants (id) DEFERRABLE INITIALLY DEFERRED,
    user_id text NOT NULL,
    created_at timestamptz NOT NULL,
    confirmed_at timestamptz,
    doc jsonb NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

ALTER TABLE mfa_factors ENABLE ROW LEVEL SECURITY;
ALTER TABLE mfa_factors FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON mfa_factors USING (app_tenant_visible(tenant_id));

DO $$
BEGIN
    GRANT SELECT, INSERT, UPDATE ON mfa_factors TO payments_app;
EXCEPTION
    WHEN undefined_object THEN NULL;
END $$;
