-- ledger_submit: one transfer in one round trip, with the same rules as payments_core.ledger.plan.
--
-- Order of checks (each failure raises and the transaction changes nothing):
-- 1. replay: an existing id returns the first result when the request is identical, else conflict;
-- 2. post/void/expire: the hold exists, is pending, has not expired; a post names only the
--    hold's pairs with at most the reserved amounts;
-- 3. the transfer row is inserted (a concurrent duplicate found here is answered as a replay);
-- 4. the touched accounts are locked in id order (no deadlocks), must exist in the tenant and
--    share each posting's currency;
-- 5. new balances must fit in 64 bits and keep every flag; then accounts, journal and the hold
--    are written.
-- Errors: SQLSTATE P0001, MESSAGE = the domain error code, DETAIL = JSON details, HINT = words.

CREATE FUNCTION ledger_fail(p_code text, p_message text, p_details jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = p_code, DETAIL = p_details::text, HINT = p_message;
END $$;

-- The journal rows a list of postings produces, in posting order, with a signed amount.
CREATE FUNCTION ledger_rows(p_postings jsonb, p_bucket text, p_sign integer, p_first integer)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'ord', p_first + p.ord,
               'debit', p.v->>'debit',
               'credit', p.v->>'credit',
               'bucket', p_bucket,
               'amount', p_sign * (p.v->>'amount')::bigint,
               'currency', p.v->>'currency') ORDER BY p.ord), '[]'::jsonb)
    FROM jsonb_array_elements(p_postings) WITH ORDINALITY AS p(v, ord)
$$;

-- Each journal row as the two entries the core sees: debit side first, then credit side.
CREATE FUNCTION ledger_sides(p_rows jsonb)
RETURNS TABLE (ord bigint, account_id text, side text, bucket text, amount numeric, currency text)
LANGUAGE sql IMMUTABLE AS $$
    SELECT r.ord * 2 + s.o, CASE s.o WHEN 0 THEN r.debit ELSE r.credit END,
           CASE s.o WHEN 0 THEN 'debit' ELSE 'credit' END, r.bucket, r.amount, r.currency
    FROM jsonb_to_recordset(p_rows) AS r(ord bigint, debit text, credit text, bucket text, amount numeric,
                                         currency text)
    CROSS JOIN (VALUES (0), (1)) AS s(o)
$$;

CREATE FUNCTION ledger_replay(p_stored_request jsonb, p_stored_postings jsonb, p_created_at timestamptz,
                              p_request jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF p_stored_request <> p_request THEN
        PERFORM ledger_fail('IDEMPOTENCY_CONFLICT', 'a transfer with this id exists with different content',
                            jsonb_build_object('transferId', p_request->>'id'));
    END IF;
    RETURN jsonb_build_object('replayed', true, 'postings', p_stored_postings, 'created_at', p_created_at);
END $$;

CREATE FUNCTION ledger_submit(p_request jsonb, p_now timestamptz) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_tenant text := p_request->>'tenant_id';
    v_id text := p_request->>'id';
    v_mode text := p_request->>'mode';
    v_pending_id text := p_request->>'pending_id';
    v_expires timestamptz := (p_request->>'expires_at')::timestamptz;
    v_postings jsonb := p_request->'postings';
    v_existing record;
    v_hold record;
    v_target text;
    v_recorded jsonb;
    v_moves jsonb;
    v_posting jsonb;
    v_held jsonb;
    v_bad record;
    v_balances jsonb;
BEGIN
    PERFORM set_config('app.tenant_id', v_tenant, true);

    SELECT request, postings, created_at INTO v_existing
    FROM transfers WHERE tenant_id = v_tenant AND id = v_id;
    IF FOUND THEN
        RETURN ledger_replay(v_existing.request, v_existing.postings, v_existing.created_at, p_request);
    END IF;

    IF v_mode IN ('posted', 'pending') THEN
        IF v_mode = 'pending' AND v_expires IS NOT NULL AND v_expires <= p_now THEN
            PERFORM ledger_fail('INVALID_PARAMETER', 'a hold must expire in the future',
                                jsonb_build_object('field', 'expires_at'));
        END IF;
        v_recorded := v_postings;
        v_moves := ledger_rows(v_postings, v_mode, 1, 0);
    ELSE
        SELECT * INTO v_hold FROM holds WHERE tenant_id = v_tenant AND transfer_id = v_pending_id FOR UPDATE;
        IF NOT FOUND THEN
            PERFORM ledger_fail('PENDING_TRANSFER_NOT_FOUND', 'no such pending transfer',
                                jsonb_build_object('pendingId', v_pending_id));
        END IF;
        IF v_hold.status <> 'pending' THEN
            PERFORM ledger_fail('PENDING_TRANSFER_ALREADY_RESOLVED', 'the hold is already ' || v_hold.status,
                                jsonb_build_object('pendingId', v_pending_id, 'currentStatus', v_hold.status));
        END IF;
        IF v_mode = 'expire_pending' THEN
            v_target := 'expired';
        ELSE
            IF v_hold.expires_at IS NOT NULL AND p_now >= v_hold.expires_at THEN
                PERFORM ledger_fail('PENDING_TRANSFER_EXPIRED', 'the hold has expired',
                                    jsonb_build_object('pendingId', v_pending_id));
            END IF;
            v_target := CASE v_mode WHEN 'post_pending' THEN 'posted' ELSE 'voided' END;
        END IF;
        v_recorded := v_hold.postings;
        IF v_target = 'posted' AND jsonb_array_length(v_postings) > 0 THEN
            FOR v_posting IN SELECT value FROM jsonb_array_elements(v_postings) LOOP
                SELECT value INTO v_held FROM jsonb_array_elements(v_hold.postings)
                WHERE value->>'debit' = v_posting->>'debit' AND value->>'credit' = v_posting->>'credit';
                IF v_held IS NULL THEN
                    PERFORM ledger_fail('INVALID_PARAMETER', 'a post may only name the hold''s own account pairs',
                        jsonb_build_object('debitAccountId', v_posting->>'debit',
                                           'creditAccountId', v_posting->>'credit'));
                END IF;
                IF v_posting->>'currency' <> v_held->>'currency' THEN
                    PERFORM ledger_fail('CURRENCY_MISMATCH', 'a post must use the hold''s currency', '{}');
                END IF;
                IF (v_posting->>'amount')::bigint > (v_held->>'amount')::bigint THEN
                    PERFORM ledger_fail('EXCEEDS_PENDING_AMOUNT', 'cannot post more than the hold reserved',
                        jsonb_build_object('reserved', (v_held->>'amount')::bigint,
                                           'requested', (v_posting->>'amount')::bigint));
                END IF;
                v_held := NULL;
            END LOOP;
            v_recorded := v_postings;
        END IF;
        v_moves := ledger_rows(v_hold.postings, 'pending', -1, 0);
        IF v_target = 'posted' THEN
            v_moves := v_moves || ledger_rows(v_recorded, 'posted', 1, jsonb_array_length(v_moves));
        END IF;
    END IF;

    INSERT INTO transfers (tenant_id, id, kind, mode, pending_id, expires_at, request, postings, created_at)
    VALUES (v_tenant, v_id, p_request->>'kind', v_mode, v_pending_id, v_expires, p_request, v_recorded, p_now)
    ON CONFLICT (tenant_id, id) DO NOTHING;
    IF NOT FOUND THEN
        SELECT request, postings, created_at INTO v_existing
        FROM transfers WHERE tenant_id = v_tenant AND id = v_id;
        RETURN ledger_replay(v_existing.request, v_existing.postings, v_existing.created_at, p_request);
    END IF;

    PERFORM 1 FROM accounts
    WHERE tenant_id = v_tenant
      AND id IN (SELECT m.account_id FROM ledger_sides(v_moves) AS m)
    ORDER BY id FOR UPDATE;

    SELECT m.account_id, a.id IS NULL AS missing, a.currency AS account_currency, m.currency
    INTO v_bad
    FROM ledger_sides(v_moves) AS m
    LEFT JOIN accounts a ON a.tenant_id = v_tenant AND a.id = m.account_id
    WHERE a.id IS NULL OR a.currency <> m.currency
    ORDER BY m.ord LIMIT 1;
    IF FOUND THEN
        IF v_bad.missing THEN
            PERFORM ledger_fail('RESOURCE_NOT_FOUND', 'account not found',
                                jsonb_build_object('accountId', v_bad.account_id));
        END IF;
        PERFORM ledger_fail('CURRENCY_MISMATCH', 'posting currency differs from the account''s',
            jsonb_build_object('accountId', v_bad.account_id, 'accountCurrency', v_bad.account_currency,
                               'postingCurrency', v_bad.currency));
    END IF;

    SELECT jsonb_agg(to_jsonb(n) ORDER BY n.id) INTO v_balances
    FROM (SELECT a.id,
                 a.debits_pending + d.debits_pending AS debits_pending,
                 a.debits_posted + d.debits_posted AS debits_posted,
                 a.credits_pending + d.credits_pending AS credits_pending,
                 a.credits_posted + d.credits_posted AS credits_posted,
                 a.credits_posted - a.debits_posted - a.debits_pending AS available_before,
                 a.currency,
                 a.debits_must_not_exceed_credits AS dnec,
                 a.credits_must_not_exceed_debits AS cned
          FROM accounts a
          JOIN (SELECT m.account_id,
                       coalesce(sum(m.amount) FILTER (WHERE m.side = 'debit' AND m.bucket = 'pending'), 0) AS debits_pending,
                       coalesce(sum(m.amount) FILTER (WHERE m.side = 'debit' AND m.bucket = 'posted'), 0) AS debits_posted,
                       coalesce(sum(m.amount) FILTER (WHERE m.side = 'credit' AND m.bucket = 'pending'), 0) AS credits_pending,
                       coalesce(sum(m.amount) FILTER (WHERE m.side = 'credit' AND m.bucket = 'posted'), 0) AS credits_posted
                FROM ledger_sides(v_moves) AS m
                GROUP BY m.account_id) d ON d.account_id = a.id
          WHERE a.tenant_id = v_tenant) n;

    SELECT * INTO v_bad
    FROM jsonb_to_recordset(v_balances) AS n(id text, debits_pending numeric, debits_posted numeric,
                                             credits_pending numeric, credits_posted numeric,
                                             available_before numeric, currency text,
                                             dnec boolean, cned boolean)
    WHERE greatest(n.debits_pending, n.debits_posted, n.credits_pending, n.credits_posted) > 9223372036854775807
       OR (n.dnec AND n.debits_posted + n.debits_pending > n.credits_posted)
       OR (n.cned AND n.credits_posted + n.credits_pending > n.debits_posted)
    ORDER BY n.id LIMIT 1;
    IF FOUND THEN
        IF greatest(v_bad.debits_pending, v_bad.debits_posted, v_bad.credits_pending, v_bad.credits_posted)
           > 9223372036854775807 THEN
            PERFORM ledger_fail('BALANCE_OVERFLOW', 'a balance would overflow', jsonb_build_object('accountId', v_bad.id));
        ELSIF v_bad.dnec THEN
            PERFORM ledger_fail('INSUFFICIENT_FUNDS', 'insufficient funds',
                jsonb_build_object('accountId', v_bad.id, 'available', v_bad.available_before,
                                   'currency', v_bad.currency));
        END IF;
        PERFORM ledger_fail('CREDITS_EXCEED_DEBITS', 'credits would exceed debits',
                            jsonb_build_object('accountId', v_bad.id, 'currency', v_bad.currency));
    END IF;

    UPDATE accounts a
    SET debits_pending = n.debits_pending, debits_posted = n.debits_posted,
        credits_pending = n.credits_pending, credits_posted = n.credits_posted
    FROM jsonb_to_recordset(v_balances) AS n(id text, debits_pending bigint, debits_posted bigint,
                                             credits_pending bigint, credits_posted bigint)
    WHERE a.tenant_id = v_tenant AND a.id = n.id;

    INSERT INTO journal (tenant_id, transfer_id, debit_account_id, credit_account_id, currency, bucket, amount,
                         created_at)
    SELECT v_tenant, v_id, r.debit, r.credit, r.currency, r.bucket, r.amount, p_now
    FROM jsonb_to_recordset(v_moves) AS r(ord integer, debit text, credit text, bucket text, amount bigint,
                                          currency text)
    ORDER BY r.ord;

    IF v_mode = 'pending' THEN
        INSERT INTO holds (tenant_id, transfer_id, postings, expires_at) VALUES (v_tenant, v_id, v_postings, v_expires);
    ELSIF v_mode <> 'posted' THEN
        UPDATE holds SET status = v_target, resolved_by = v_id
        WHERE tenant_id = v_tenant AND transfer_id = v_pending_id;
    END IF;

    RETURN jsonb_build_object('replayed', false, 'postings', v_recorded, 'created_at', p_now);
END $$;
