-- The ledger: accounts with stored balances, transfers, holds and the append-only journal.
--
-- Invariants the database itself keeps:
-- * balances are non-negative 64-bit integers; a flagged account never breaks its flag (CHECK);
-- * (tenant_id, id) keys everywhere; journal rows reference their transfer and both accounts;
-- * every journal row debits and credits the same amount in one currency, so every transfer
--   balances per currency and bucket by construction;
-- * transfers and journal rows are append-only: UPDATE, DELETE and TRUNCATE are refused (trigger);
-- * row-level security: a session sees only the tenant named by `app.tenant_id` ('*' = all,
--   used only by the few cross-tenant lookups: sweeps and references arriving from outside).

DO $$
BEGIN
    CREATE ROLE payments_app NOLOGIN;
EXCEPTION
    WHEN duplicate_object THEN NULL;
    WHEN insufficient_privilege THEN NULL;
END $$;

CREATE FUNCTION app_tenant_visible(row_tenant text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT row_tenant = current_setting('app.tenant_id', true)
        OR current_setting('app.tenant_id', true) = '*'
$$;

CREATE TABLE accounts (
    tenant_id text NOT NULL,
    id text NOT NULL,
    code text NOT NULL,
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    debits_must_not_exceed_credits boolean NOT NULL DEFAULT false,
    credits_must_not_exceed_debits boolean NOT NULL DEFAULT false,
    debits_pending bigint NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    debits_posted bigint NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_pending bigint NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    credits_posted bigint NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, id, currency),
    CONSTRAINT one_flag CHECK (NOT (debits_must_not_exceed_credits AND credits_must_not_exceed_debits)),
    CONSTRAINT debits_within_credits CHECK (
        NOT debits_must_not_exceed_credits OR debits_posted + debits_pending <= credits_posted),
    CONSTRAINT credits_within_debits CHECK (
        NOT credits_must_not_exceed_debits OR credits_posted + credits_pending <= debits_posted)
);

CREATE TABLE transfers (
    tenant_id text NOT NULL,
    id text NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    kind text NOT NULL,
    mode text NOT NULL CHECK (mode IN ('posted', 'pending', 'post_pending', 'void_pending', 'expire_pending')),
    pending_id text,
    expires_at timestamptz,
    request jsonb NOT NULL,
    postings jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE holds (
    tenant_id text NOT NULL,
    transfer_id text NOT NULL,
    postings jsonb NOT NULL,
    expires_at timestamptz,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'posted', 'voided', 'expired')),
    resolved_by text,
    PRIMARY KEY (tenant_id, transfer_id),
    FOREIGN KEY (tenant_id, transfer_id) REFERENCES transfers (tenant_id, id)
);
CREATE INDEX holds_due ON holds (expires_at) WHERE status = 'pending' AND expires_at IS NOT NULL;

-- The journal: one row per movement of one posting, debiting one account and crediting
-- another by the same signed amount in one currency. A transfer's rows therefore balance per
-- currency and bucket by construction; the foreign keys carry the currency, so a row can only
-- name accounts of its own currency. (The core reads each row as its two entries.)
CREATE TABLE journal (
    tenant_id text NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    transfer_id text NOT NULL,
    debit_account_id text NOT NULL,
    credit_account_id text NOT NULL,
    currency text NOT NULL,
    bucket text NOT NULL CHECK (bucket IN ('pending', 'posted')),
    amount bigint NOT NULL CHECK (amount <> 0),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    CHECK (debit_account_id <> credit_account_id),
    FOREIGN KEY (tenant_id, transfer_id) REFERENCES transfers (tenant_id, id),
    FOREIGN KEY (tenant_id, debit_account_id, currency) REFERENCES accounts (tenant_id, id, currency),
    FOREIGN KEY (tenant_id, credit_account_id, currency) REFERENCES accounts (tenant_id, id, currency)
);
CREATE INDEX journal_by_debit ON journal (tenant_id, debit_account_id, seq);
CREATE INDEX journal_by_credit ON journal (tenant_id, credit_account_id, seq);

CREATE FUNCTION refuse_journal_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'APPEND_ONLY',
        DETAIL = json_build_object('table', TG_TABLE_NAME)::text,
        HINT = 'the journal is append-only: correct it with a new transfer';
END $$;

CREATE TRIGGER journal_append_only BEFORE UPDATE OR DELETE ON journal
    FOR EACH ROW EXECUTE FUNCTION refuse_journal_change();
CREATE TRIGGER journal_no_truncate BEFORE TRUNCATE ON journal
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_journal_change();
CREATE TRIGGER transfers_append_only BEFORE UPDATE OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION refuse_journal_change();
CREATE TRIGGER transfers_no_truncate BEFORE TRUNCATE ON transfers
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_journal_change();

ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE accounts FORCE ROW LEVEL SECURITY;
ALTER TABLE transfers ENABLE ROW LEVEL SECURITY;
ALTER TABLE transfers FORCE ROW LEVEL SECURITY;
ALTER TABLE holds ENABLE ROW LEVEL SECURITY;
ALTER TABLE holds FORCE ROW LEVEL SECURITY;
ALTER TABLE journal ENABLE ROW LEVEL SECURITY;
ALTER TABLE journal FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON accounts USING (app_tenant_visible(tenant_id));
CREATE POLICY tenant_rows ON transfers USING (app_tenant_visible(tenant_id));
CREATE POLICY tenant_rows ON holds USING (app_tenant_visible(tenant_id));
CREATE POLICY tenant_rows ON journal USING (app_tenant_visible(tenant_id));

DO $$
BEGIN
    GRANT SELECT, INSERT, UPDATE ON accounts, holds TO payments_app;
    GRANT SELECT, INSERT ON transfers, journal TO payments_app;
EXCEPTION
    WHEN undefined_object THEN NULL;
END $$;
