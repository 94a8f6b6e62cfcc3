-- A reconciliation run's work schemas: opened and closed by the database owner, for the run's own
-- transaction only.
--
-- The batch staged a statement and matched it in temporary tables, and PostgreSQL never lets a
-- parallel worker read a temporary table, nor another session: converting a million lines and
-- joining them with the records ran on one core of two. It now works in unlogged tables of
-- schemas of its own (`recon_workspace`), which the app role gets no right to create itself (a
-- right on the database, which a dump or a copy from a template would not carry). These functions
-- run as the owner and act only on schemas named after a run's transaction id:
--
-- * `recon_run_<xid>`: the run's workspace, created inside its transaction and dropped before it
--   commits, so no other session ever sees it and a failed run leaves nothing.
-- * `recon_side_<xid>`: where a second session works for the run (half of its statement, the
--   records it is matched with), committed so that the run can read it. The run drops it before it commits; if the run fails instead, the
--   next run to open a workspace drops it, as it drops every side schema of a run no longer in
--   progress.

CREATE FUNCTION reconciliation_workspace_open() RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog SET client_min_messages = warning AS $$
DECLARE
    workspace text := 'recon_run_' || pg_current_xact_id();
    stale text;
BEGIN
    IF to_regnamespace(quote_ident(workspace)) IS NULL THEN
        FOR stale IN
            SELECT nspname FROM pg_namespace
            WHERE nspname ~ '^recon_side_[0-9]+$'
              AND pg_xact_status(substr(nspname, 12)::xid8) IS DISTINCT FROM 'in progress'
        LOOP
            BEGIN
                EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', stale);
            EXCEPTION WHEN OTHERS THEN
                NULL;  -- another run dropped it first
            END;
        END LOOP;
        EXECUTE format('CREATE SCHEMA %I', workspace);
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'payments_app') THEN
            EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO payments_app', workspace);
        END IF;
    END IF;
    RETURN workspace;
END $$;

CREATE FUNCTION reconciliation_side_open(run xid8) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    workspace text := 'recon_side_' || run;
BEGIN
    IF run = pg_current_xact_id() OR pg_xact_status(run) IS DISTINCT FROM 'in progress' THEN
        RAISE EXCEPTION 'no other run % in progress', run USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regnamespace(quote_ident(workspace)) IS NULL THEN
        EXECUTE format('CREATE SCHEMA %I', workspace);
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'payments_app') THEN
            EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO payments_app', workspace);
        END IF;
    END IF;
    RETURN workspace;
END $$;

CREATE FUNCTION reconciliation_workspace_close() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog SET client_min_messages = warning AS $$
BEGIN
    EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', 'recon_run_' || pg_current_xact_id());
    EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', 'recon_side_' || pg_current_xact_id());
END $$;

REVOKE ALL ON FUNCTION reconciliation_workspace_open(), reconciliation_side_open(xid8),
    reconciliation_workspace_close() FROM PUBLIC;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'payments_app') THEN
        GRANT EXECUTE ON FUNCTION reconciliation_workspace_open(), reconciliation_side_open(xid8),
            reconciliation_workspace_close() TO payments_app;
    END IF;
END $$;
