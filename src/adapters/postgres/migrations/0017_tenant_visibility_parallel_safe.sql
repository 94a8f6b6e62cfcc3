-- The row-level-security test may run in parallel workers.
--
-- app_tenant_visible (0001) compares a row's tenant with the transaction's `app.tenant_id`. It was
-- created without a parallel label, so PostgreSQL took it for PARALLEL UNSAFE, and every query on
-- a table it guards (all tenant tables) was planned without parallel workers: the reconciliation
-- batch read a million payments and their transfers on one core of two.
--
-- It is parallel safe: it reads only a setting, and parallel workers start with every setting of
-- their leader, `SET LOCAL` ones included, so a worker sees the tenant the leader sees (a test
-- forces a parallel plan and checks that it returns only the tenant's rows).

ALTER FUNCTION app_tenant_visible(text) PARALLEL SAFE;
