"""PostgreSQL adapters: the ledger store, the repositories, the unit of work, migrations.

psycopg 3 with one pool, SQL migrations applied under an advisory lock, no ORM. Tenant
isolation twice: every query filters by tenant, and row-level security policies scoped by the
transaction's `app.tenant_id` setting hide every other tenant's rows from a query that forgets.
"""
