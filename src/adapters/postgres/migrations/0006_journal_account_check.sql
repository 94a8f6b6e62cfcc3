-- The journal names real accounts of its own currency, checked once per statement.
--
-- Per-row foreign keys from the journal to accounts cost two lookups for every row written
-- (measured: a third of the batch path). The same guarantee, kept by the database:
-- * a statement-level trigger checks, in one anti-join over the rows a statement inserted, that
--   every journal row's debit and credit accounts exist in its tenant with its currency;
-- * accounts can never be deleted, and their tenant, id and currency never change, so a
--   journal row that was valid when written stays valid.
-- The journal keeps its per-row foreign key to its transfer.

ALTER TABLE journal DROP CONSTRAINT journal_tenant_id_debit_account_id_currency_fkey;
ALTER TABLE journal DROP CONSTRAINT journal_tenant_id_credit_account_id_currency_fkey;

CREATE FUNCTION check_journal_accounts() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_bad record;
BEGIN
    SELECT n.transfer_id, x.account_id INTO v_bad
    FROM new_rows n
    CROSS JOIN LATERAL (VALUES (n.debit_account_id), (n.credit_account_id)) AS x(account_id)
    WHERE NOT EXISTS (SELECT 1 FROM accounts a
                      WHERE a.tenant_id = n.tenant_id AND a.id = x.account_id AND a.currency = n.currency)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
            MESSAGE = 'journal row names an account that does not exist in its currency',
            DETAIL = json_build_object('transferId', v_bad.transfer_id, 'accountId', v_bad.account_id)::text;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER journal_accounts_exist AFTER INSERT ON journal
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION check_journal_accounts();

CREATE FUNCTION refuse_account_identity_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.tenant_id <> OLD.tenant_id OR NEW.id <> OLD.id OR NEW.currency <> OLD.currency THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'APPEND_ONLY',
            DETAIL = json_build_object('table', 'accounts')::text,
            HINT = 'accounts are never deleted, and their tenant, id and currency never change';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER accounts_keep_identity BEFORE UPDATE OF tenant_id, id, currency OR DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION refuse_account_identity_change();
CREATE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_journal_change();

-- Balance updates rewrite a row in place (HOT) when its page has room.
ALTER TABLE accounts SET (fillfactor = 70);
