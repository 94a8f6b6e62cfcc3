-- ledger_post, holding the accounts' locks for less time, same behaviour (0004 describes its
-- checks, their order and its errors; 0014 its plans). 0015 did the same for ledger_post_batch.
--
-- Under one hot account every transfer waits for the one before it to commit, so the time a
-- transfer holds its accounts locked bounds the throughput. Only the balance checks and the
-- UPDATE need the lock: an account's existence, tenant and currency never change (0006), and a
-- transfer that fails rolls back whole. So the accounts are checked against the postings, and
-- the journal rows (and a pending transfer's hold) written, before the lock is taken; the lock
-- (in id order, as before) then covers the UPDATE and the commit alone. The checks are the same
-- statements, in the same order, with the same errors. Journal rows of one account may now be
-- numbered (seq) in another order than their transfers took the lock, as for batches since 0015.
--
-- The UPDATE's generic plan was a hash join over all of the tenant's accounts (a bitmap scan),
-- which under a hot wallet walks every account's chain of row versions: the function's planner
-- settings make it one index probe per touched account, as the 0013 check does. That also pays
-- for the extra locking statement.
--
-- Measured on 2 cores, the payment flow (3 accounts), 8 workers, interleaved runs:
-- * one hot wallet: time a transfer holds the lock inside the function 264 -> 114 us (median);
--   hot_wallet 1096, 1115 -> 1264, 1274 per second. The rest of each turn is the commit's WAL
--   flush (fsync 420-500 us under that load) and handing the lock to the next transfer;
-- * spread over 1,000 tenants: backend CPU per transfer 390 -> 392 us (median; 413 us without
--   the planner settings);
-- * benchmarks/ledger.py --seconds 10, three back-to-back pairs (before / after):
--   hot_wallet_tps 1228 / 1505, 1276 / 1358, 1173 / 1349 (ratio_hot 0.50 / 0.58, 0.52 / 0.55,
--   0.62 / 0.55); ledger_tps_8 2462 / 2581, 2469 / 2474, 1900 / 2469.

CREATE OR REPLACE FUNCTION ledger_post(
    p_request jsonb, p_now timestamptz,
    p_accounts text[], p_debits_pending bigint[], p_debits_posted bigint[],
    p_credits_pending bigint[], p_credits_posted bigint[],
    p_debits text[], p_credits text[], p_amounts bigint[], p_currencies text[]
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_tenant text := p_request->>'tenant_id';
    v_id text := p_request->>'id';
    v_mode text := p_request->>'mode';
    v_bucket text := CASE p_request->>'mode' WHEN 'pending' THEN 'pending' ELSE 'posted' END;
    v_expires timestamptz := (p_request->>'expires_at')::timestamptz;
    v_existing record;
    v_bad record;
    v_count integer;
    v_updated text[];
    v_mismatch boolean;
BEGIN
    PERFORM set_config('app.tenant_id', v_tenant, true);
    IF v_mode = 'pending' AND v_expires IS NOT NULL AND v_expires <= p_now THEN
        SELECT request, postings, created_at INTO v_existing
        FROM transfers WHERE tenant_id = v_tenant AND id = v_id;
        IF FOUND THEN
            RETURN ledger_replay(v_existing.request, v_existing.postings, v_existing.created_at, p_request);
        END IF;
        PERFORM ledger_fail('INVALID_PARAMETER', 'a hold must expire in the future',
                            jsonb_build_object('field', 'expires_at'));
    END IF;

    INSERT INTO transfers (tenant_id, id, kind, mode, pending_id, expires_at, request, postings, created_at)
    VALUES (v_tenant, v_id, p_request->>'kind', v_mode, NULL, v_expires, p_request, p_request->'postings', p_now)
    ON CONFLICT (tenant_id, id) DO NOTHING;
    IF NOT FOUND THEN
        SELECT request, postings, created_at INTO v_existing
        FROM transfers WHERE tenant_id = v_tenant AND id = v_id;
        RETURN ledger_replay(v_existing.request, v_existing.postings, v_existing.created_at, p_request);
    END IF;

    -- Before any lock: an account's existence, tenant and currency never change (0006).
    SELECT count(*), bool_or(named.mismatch) INTO v_count, v_mismatch FROM (
        SELECT EXISTS (SELECT 1 FROM unnest(p_debits, p_credits, p_currencies) AS r(debit, credit, currency)
                       WHERE a.id IN (r.debit, r.credit) AND r.currency <> a.currency) AS mismatch
        FROM accounts a WHERE a.tenant_id = v_tenant AND a.id = ANY(p_accounts)
    ) named;
    IF v_count < cardinality(p_accounts) OR v_mismatch THEN
        SELECT s.account_id, a.id IS NULL AS missing, a.currency AS account_currency, s.currency INTO v_bad
        FROM unnest(p_debits, p_credits, p_currencies) WITH ORDINALITY AS r(debit, credit, currency, ord)
        CROSS JOIN LATERAL (VALUES (r.ord * 2, r.debit, r.currency), (r.ord * 2 + 1, r.credit, r.currency))
            AS s(ord, account_id, currency)
        LEFT JOIN accounts a ON a.tenant_id = v_tenant AND a.id = s.account_id
        WHERE a.id IS NULL OR a.currency <> s.currency
        ORDER BY s.ord LIMIT 1;
        IF v_bad.missing THEN
            PERFORM ledger_fail('RESOURCE_NOT_FOUND', 'account not found',
                                jsonb_build_object('accountId', v_bad.account_id));
        END IF;
        PERFORM ledger_fail('CURRENCY_MISMATCH', 'posting currency differs from the account''s',
            jsonb_build_object('accountId', v_bad.account_id, 'accountCurrency', v_bad.account_currency,
                               'postingCurrency', v_bad.currency));
    END IF;

    INSERT INTO journal (tenant_id, transfer_id, debit_account_id, credit_account_id, currency, bucket, amount,
                         created_at)
    SELECT v_tenant, v_id, r.debit, r.credit, r.currency, v_bucket, r.amount, p_now
    FROM unnest(p_debits, p_credits, p_amounts, p_currencies) WITH ORDINALITY AS r(debit, credit, amount, currency, ord)
    ORDER BY r.ord;

    IF v_mode = 'pending' THEN
        INSERT INTO holds (tenant_id, transfer_id, postings, expires_at)
        VALUES (v_tenant, v_id, p_request->'postings', v_expires);
    END IF;

    -- The lock covers the balance check and the update alone, taken in id order as before.
    PERFORM 1 FROM accounts a WHERE a.tenant_id = v_tenant AND a.id = ANY(p_accounts) ORDER BY a.id FOR UPDATE;

    WITH updated AS (
        UPDATE accounts a
        SET debits_pending = a.debits_pending + d.dpe, debits_posted = a.debits_posted + d.dpo,
            credits_pending = a.credits_pending + d.cpe, credits_posted = a.credits_posted + d.cpo
        FROM unnest(p_accounts, p_debits_pending, p_debits_posted, p_credits_pending, p_credits_posted)
             AS d(id, dpe, dpo, cpe, cpo)
        WHERE a.tenant_id = v_tenant AND a.id = d.id
          AND a.debits_pending <= 9223372036854775807 - d.dpe
          AND a.debits_posted <= 9223372036854775807 - d.dpo
          AND a.credits_pending <= 9223372036854775807 - d.cpe
          AND a.credits_posted <= 9223372036854775807 - d.cpo
          AND (NOT a.debits_must_not_exceed_credits
               OR a.debits_posted::numeric + d.dpo + a.debits_pending + d.dpe <= a.credits_posted::numeric + d.cpo)
          AND (NOT a.credits_must_not_exceed_debits
               OR a.credits_posted::numeric + d.cpo + a.credits_pending + d.cpe <= a.debits_posted::numeric + d.dpo)
        RETURNING a.id)
    SELECT array_agg(id) INTO v_updated FROM updated;
    IF coalesce(cardinality(v_updated), 0) < cardinality(p_accounts) THEN
        -- Some account refused its update (the others are undone with the error below).
        -- Diagnose from the refused rows only: they still hold their balances from before.
        SELECT a.id, a.currency,
               a.credits_posted - a.debits_posted - a.debits_pending AS available,
               greatest(a.debits_pending::numeric + d.dpe, a.debits_posted::numeric + d.dpo,
                        a.credits_pending::numeric + d.cpe, a.credits_posted::numeric + d.cpo)
                   > 9223372036854775807 AS overflow,
               a.debits_must_not_exceed_credits AS dnec
        INTO v_bad
        FROM accounts a
        JOIN unnest(p_accounts, p_debits_pending, p_debits_posted, p_credits_pending, p_credits_posted)
             AS d(id, dpe, dpo, cpe, cpo) ON a.tenant_id = v_tenant AND a.id = d.id
        WHERE NOT a.id = ANY(coalesce(v_updated, '{}'))
          AND (greatest(a.debits_pending::numeric + d.dpe, a.debits_posted::numeric + d.dpo,
                       a.credits_pending::numeric + d.cpe, a.credits_posted::numeric + d.cpo)
                  > 9223372036854775807
           OR (a.debits_must_not_exceed_credits
               AND a.debits_posted::numeric + d.dpo + a.debits_pending + d.dpe > a.credits_posted::numeric + d.cpo)
           OR (a.credits_must_not_exceed_debits
               AND a.credits_posted::numeric + d.cpo + a.credits_pending + d.cpe > a.debits_posted::numeric + d.dpo))
        ORDER BY a.id LIMIT 1;
        IF v_bad.overflow THEN
            PERFORM ledger_fail('BALANCE_OVERFLOW', 'a balance would overflow', jsonb_build_object('accountId', v_bad.id));
        ELSIF v_bad.dnec THEN
            PERFORM ledger_fail('INSUFFICIENT_FUNDS', 'insufficient funds',
                jsonb_build_object('accountId', v_bad.id, 'available', v_bad.available, 'currency', v_bad.currency));
        END IF;
        PERFORM ledger_fail('CREDITS_EXCEED_DEBITS', 'credits would exceed debits',
                            jsonb_build_object('accountId', v_bad.id, 'currency', v_bad.currency));
    END IF;

    RETURN jsonb_build_object('replayed', false, 'postings', p_request->'postings', 'created_at', p_now);
END $$;

ALTER FUNCTION ledger_post(jsonb, timestamptz, text[], bigint[], bigint[], bigint[], bigint[], text[], text[],
                           bigint[], text[])
    SET plan_cache_mode = force_generic_plan SET enable_hashjoin = off SET enable_mergejoin = off
    SET enable_bitmapscan = off;
