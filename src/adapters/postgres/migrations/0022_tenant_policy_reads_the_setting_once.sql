-- Row-level security reads the transaction's tenant once per query, not twice per row.
--
-- Every tenant table's policy was `app_tenant_visible(tenant_id)` (0001): PostgreSQL inlines that
-- SQL function into the query, and the two `current_setting` calls it makes are then evaluated
-- for every row the query reads. Over the reconciliation batch's million payments and million
-- transfers that is about 0.2 s of a core, a seventh of reading its records.
--
-- The same test, with each `current_setting` in a scalar subquery: the planner makes each an
-- init plan, evaluated once when the query starts (by the leader, which hands the value to any
-- parallel workers). The rows visible are exactly those visible before. A table added later takes
-- the same expression (a test holds every tenant table to it); the function stays, unused.

DO $$
DECLARE
    policy record;
BEGIN
    FOR policy IN
        SELECT schemaname, tablename, policyname FROM pg_policies
        WHERE policyname = 'tenant_rows' AND qual = 'app_tenant_visible(tenant_id)' AND with_check IS NULL
    LOOP
        EXECUTE format(
            'ALTER POLICY %I ON %I.%I USING ('
            'tenant_id = (SELECT current_setting(''app.tenant_id'', true)) '
            'OR (SELECT current_setting(''app.tenant_id'', true)) = ''*'')',
            policy.policyname, policy.schemaname, policy.tablename
        );
    END LOOP;
END $$;
