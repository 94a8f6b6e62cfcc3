-- The journal's account check (0006) probes the accounts index once per journal row, whatever
-- row-level security makes the planner believe.
--
-- Under row-level security the planner sees `accounts` through the tenant policy, a condition on
-- a setting whose selectivity it cannot know: it guessed 1% of the table, then read every account
-- once per statement and compared each journal row with all of them. Measured with 6,000
-- accounts: 565 ms for the rows of a 1,000-transfer batch (9 ms with an index probe per row), and
-- every account read again for each single transfer, a cost that grows with the number of
-- tenants. The check's own settings take those plans away; the probe costs the same at any size.

ALTER FUNCTION check_journal_accounts() SET enable_material = off;
ALTER FUNCTION check_journal_accounts() SET enable_hashjoin = off;
ALTER FUNCTION check_journal_accounts() SET enable_mergejoin = off;
