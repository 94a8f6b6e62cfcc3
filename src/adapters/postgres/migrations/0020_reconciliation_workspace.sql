-- A reconciliation run's work schema: opened and closed by the database owner, for the run's own
-- transaction only.
--
-- The batch staged a statement and matched it in temporary tables, and PostgreSQL never lets a
-- parallel worker read a temporary table: converting a million lines and joining them with the
-- records ran on one core of two. It now works in unlogged tables of a schema of its own, named
-- after its transaction, created inside it and dropped before it commits (`recon_workspace`).
--
-- The app role is given no right to create schemas (a right on the database, which a dump or a
-- copy from a template would not carry). These two functions run as the owner and take no
-- argument: each acts on the calling transaction's schema only, `recon_run_<transaction id>`.
-- The first creates it (once) and lets the app role create tables in it; the second drops it,
-- and refuses while any table is left in it (the app role drops its own tables first).

CREATE FUNCTION reconciliation_workspace_open() RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    workspace text := 'recon_run_' || pg_current_xact_id();
BEGIN
    IF to_regnamespace(quote_ident(workspace)) IS NULL THEN
        EXECUTE format('CREATE SCHEMA %I', workspace);
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'payments_app') THEN
            EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO payments_app', workspace);
        END IF;
    END IF;
    RETURN workspace;
END $$;

CREATE FUNCTION reconciliation_workspace_close() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    EXECUTE format('DROP SCHEMA IF EXISTS %I RESTRICT', 'recon_run_' || pg_current_xact_id());
END $$;

REVOKE ALL ON FUNCTION reconciliation_workspace_open(), reconciliation_workspace_close() FROM PUBLIC;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'payments_app') THEN
        GRANT EXECUTE ON FUNCTION reconciliation_workspace_open(), reconciliation_workspace_close()
            TO payments_app;
    END IF;
END $$;
