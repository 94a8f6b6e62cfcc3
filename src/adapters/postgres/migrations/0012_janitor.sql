-- The janitor's schedule (adapters/postgres/janitor.py): when each pending payment, pending refund
-- and processing withdrawal may next be asked about at its provider, and how often it was.
--
-- Invariants the database itself keeps:
-- * the columns are the janitor's alone: the repositories' writes name their columns and `doc`
--   only, so a use case never resets a schedule and a claim never changes an aggregate;
-- * `status_checks` never goes below zero; `next_check_at` NULL means never asked (due at once);
-- * due objects are found through partial indexes on the states the janitor asks about, which
--   only pending (processing) rows enter, so the indexes stay as small as the backlog;
-- * row-level security and the app role's UPDATE grant are the tables' own (0003).

ALTER TABLE payments
    ADD COLUMN next_check_at timestamptz,
    ADD COLUMN status_checks integer NOT NULL DEFAULT 0 CHECK (status_checks >= 0);
ALTER TABLE refunds
    ADD COLUMN next_check_at timestamptz,
    ADD COLUMN status_checks integer NOT NULL DEFAULT 0 CHECK (status_checks >= 0);
ALTER TABLE withdrawals
    ADD COLUMN next_check_at timestamptz,
    ADD COLUMN status_checks integer NOT NULL DEFAULT 0 CHECK (status_checks >= 0);

CREATE INDEX payments_janitor_due ON payments (created_at, id) WHERE status = 'pending';
CREATE INDEX refunds_janitor_due ON refunds (created_at, id)
    WHERE status = 'pending' AND provider_refund_id IS NOT NULL;
CREATE INDEX withdrawals_janitor_due ON withdrawals (id)
    WHERE status = 'processing' AND provider_reference IS NOT NULL;
