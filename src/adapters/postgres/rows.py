"""What every PostgreSQL repository shares: the tenant scope, the error guard, one table's rows.

Invariants
- No psycopg exception leaves this adapter: `guarded()` turns the ledger's coded errors, bad
  values, unique and foreign-key violations into the core's errors, and anything else (a lost
  connection, a pool timeout) into `StorageFailure`.
- `Scope` is the transaction's row-level-security tenant (`app.tenant_id`, transaction-local):
  set only when it changes, forgotten whenever something else may have changed it (a commit, a
  rollback, a ledger call: the ledger's SQL functions set it themselves).
- A `Table` writes an aggregate as its real columns plus `doc` (the whole aggregate) in one
  statement, so the columns can never disagree with the document; reads decode `doc` only.
- An insert never aborts the transaction on a taken key: it does nothing and raises
  `IdempotencyConflict`, so the unit of work stays usable, as the in-memory one does.
- A lookup of one aggregate a use case may change (`get`, by provider reference, by slug) locks
  its row (FOR NO KEY UPDATE) until commit or rollback: a second unit of work reading it waits,
  then reads what the first committed. Read-modify-write use cases (reserving a payment link's
  last use, refunding a payment twice at once) thus run one after the other on the same
  aggregate, as the in-memory store runs every unit of work; nothing is lost or oversold.
  Listings, and lookups only ever read (tenants, API key hash, webhook URL id, idempotency key),
  take no lock; nor does `get` in a reader's unit of work (a READ ONLY transaction).
- The tenant setting travels with the statement that needs it (`Scope.execute`, one pipeline).
- SQL is built from constants and identifiers only; values are always parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import Enum
from typing import Any, Generic, LiteralString, TypeVar

import psycopg
from psycopg import errors as pg
from psycopg import sql
from psycopg.types.json import Jsonb

from adapters.postgres.codec import dump, load, to_json
from adapters.postgres.sql_errors import translated
from payments_core.errors import DomainError, IdempotencyConflict, NotFound, ValidationError

T = TypeVar("T")
Params = Sequence[Any] | Mapping[str, Any]
Query = LiteralString | sql.Composed

ALL_TENANTS = "*"
# The key of most tables: a tenant's own id for the row.
ID = ("tenant_id", "id")


class StorageFailure(DomainError):
    """The database could not do the work (unreachable, timed out): nothing was changed."""

    code = "INTERNAL_ERROR"


@contextmanager
def guarded() -> Iterator[None]:
    """Run database work; raise the core's errors instead of psycopg's."""
    try:
        with translated():
            yield
    except pg.UniqueViolation:
        raise IdempotencyConflict("a row with this key exists already") from None
    except pg.ForeignKeyViolation:
        raise NotFound("a row this one refers to does not exist") from None
    except UnicodeEncodeError:
        raise ValidationError("a value is not acceptable text", reason="UnicodeEncodeError") from None
    except psycopg.Error as error:
        raise StorageFailure(
            "the database could not complete the operation", reason=type(error).__name__
        ) from None


class Scope:
    """The tenant this transaction's row-level security shows ('*': every tenant)."""

    def __init__(self, conn: psycopg.Connection[Any], read_only: bool = False) -> None:
        self._conn = conn
        self._current: str | None = None
        self.read_only = read_only

    @property
    def current(self) -> str | None:
        return self._current

    def enter(self, tenant_id: str) -> None:
        if tenant_id != self._current:
            self._current = None
            self._conn.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant_id,))
            self._current = tenant_id

    def execute(self, tenant_id: str, query: Query, params: Params) -> psycopg.Cursor[Any]:
        """`query` with this transaction scoped to `tenant_id`. When the scope must change, the
        setting and the query go in one pipeline: one round trip (BEGIN included) instead of three."""
        if self.read_only:
            return self._read(tenant_id, query, params)
        if tenant_id == self._current:
            return self._conn.execute(query, params)
        self._current = None
        with self._conn.pipeline():
            self._conn.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant_id,))
            cursor = self._conn.execute(query, params)
        self._current = tenant_id
        return cursor

    def _read(self, tenant_id: str, query: Query, params: Params) -> psycopg.Cursor[Any]:
        """A reader's statement is a READ ONLY transaction of its own, sent whole as one simple
        query (the connection is in autocommit mode): one round trip, nothing left open. The values
        are bound client-side by psycopg, the tenant as a parameter like any other."""
        body = sql.SQL(query) if isinstance(query, str) else query
        if isinstance(params, Mapping):
            scope = sql.SQL("SELECT set_config('app.tenant_id', %(_scope_tenant)s, true)")
            bound: Params = {**params, "_scope_tenant": tenant_id}
        else:
            scope = sql.SQL("SELECT set_config('app.tenant_id', %s, true)")
            bound = [tenant_id, *params]
        statement = sql.SQL("BEGIN READ ONLY; {}; {}; COMMIT").format(scope, body)
        cursor = psycopg.ClientCursor(self._conn)
        cursor.execute(statement, bound)
        cursor.nextset()  # past BEGIN's and set_config's results, to the query's
        cursor.nextset()
        return cursor

    def forget(self) -> None:
        """Something else may have changed the setting: set it again before the next statement."""
        self._current = None


def column_value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


class Table(Generic[T]):
    """One aggregate's table: `key` and `columns` are attribute names of the aggregate."""

    def __init__(self, name: str, kind: type[T], key: tuple[str, ...], columns: tuple[str, ...]) -> None:
        self.name = name
        self.kind = kind
        self.key = key
        self.columns = columns
        table = sql.Identifier(name)
        names = sql.SQL(", ").join(sql.Identifier(c) for c in (*columns, "doc"))
        values = sql.SQL(", ").join(sql.Placeholder() * (len(columns) + 1))
        where = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in key)
        changes = [c for c in columns if c not in key]
        assign = sql.SQL(", ").join(sql.SQL("{0} = %s").format(sql.Identifier(c)) for c in (*changes, "doc"))
        excluded = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in (*changes, "doc")
        )
        keys = sql.SQL(", ").join(sql.Identifier(c) for c in key)
        self.insert_sql = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING").format(
            table, names, values
        )
        self.upsert_sql = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}").format(
            table, names, values, keys, excluded
        )
        self.update_sql = sql.SQL("UPDATE {} SET {} WHERE {}").format(table, assign, where)
        self.get_sql = sql.SQL("SELECT doc FROM {} WHERE {}").format(table, where)
        self.lock_sql = sql.SQL("SELECT doc FROM {} WHERE {} FOR NO KEY UPDATE").format(table, where)
        self._changes = tuple(changes)

    def row(self, item: T) -> list[Any]:
        values = [column_value(getattr(item, c)) for c in self.columns]
        return [*values, Jsonb(dump(item), dumps=to_json)]

    def key_of(self, item: T) -> list[Any]:
        return [getattr(item, c) for c in self.key]

    def changes(self, item: T) -> list[Any]:
        values = [column_value(getattr(item, c)) for c in self._changes]
        return [*values, Jsonb(dump(item), dumps=to_json), *self.key_of(item)]


class Repository(Generic[T]):
    """A repository over one `Table`, on the unit of work's connection and scope."""

    table: Table[T]
    resource: str = "row"

    def __init__(self, conn: psycopg.Connection[Any], scope: Scope) -> None:
        self._conn = conn
        self._scope = scope

    def _execute(
        self, tenant_id: str, query: LiteralString | sql.Composed, params: Params
    ) -> psycopg.Cursor[Any]:
        return self._scope.execute(tenant_id, query, params)

    def _docs(self, tenant_id: str, query: LiteralString | sql.Composed, params: Params) -> list[T]:
        with guarded():
            rows = self._execute(tenant_id, query, params).fetchall()
        return [load(self.table.kind, row[0]) for row in rows]

    def _doc(self, tenant_id: str, query: LiteralString | sql.Composed, params: Params) -> T | None:
        found = self._docs(tenant_id, query, params)
        return found[0] if found else None

    def _get(self, tenant_id: str, *key: str) -> T | None:
        """The aggregate, locked until the transaction ends (see the module's invariants)."""
        query = self.table.get_sql if self._scope.read_only else self.table.lock_sql
        return self._doc(tenant_id, query, key)

    def _insert(self, tenant_id: str, item: T, taken: Callable[[], DomainError] | None = None) -> None:
        with guarded():
            inserted = self._execute(tenant_id, self.table.insert_sql, self.table.row(item)).rowcount
        if inserted == 1:
            return
        key = self.table.key_of(item)
        if taken is not None:
            raise taken()
        if self._doc(tenant_id, self.table.get_sql, key) is not None:
            raise IdempotencyConflict("a row with this id exists already", id=key[-1])
        raise IdempotencyConflict(f"a unique value of this {self.resource} is taken", id=key[-1])

    def _upsert(self, tenant_id: str, item: T) -> None:
        with guarded():
            self._execute(tenant_id, self.table.upsert_sql, self.table.row(item))

    def _update(self, tenant_id: str, item: T) -> None:
        with guarded():
            updated = self._execute(tenant_id, self.table.update_sql, self.table.changes(item)).rowcount
        if updated != 1:
            raise NotFound(
                f"{self.resource} not found", resource=self.resource, id=self.table.key_of(item)[-1]
            )

    def _count_and_docs(
        self, tenant_id: str, query: sql.Composed, params: Mapping[str, Any]
    ) -> tuple[int, list[T]]:
        """For a query answering (total, doc) rows, doc NULL when the page is empty."""
        with guarded():
            rows = self._execute(tenant_id, query, params).fetchall()
        total = int(rows[0][0]) if rows else 0
        return total, [load(self.table.kind, row[1]) for row in rows if row[1] is not None]


def paged(found: LiteralString, order: LiteralString) -> sql.Composed:
    """A page of `found` (a SELECT of doc plus the `order` columns) in `order`, with the total.

    One statement, so the total and the page come from one snapshot; an empty page still
    answers one row (total, NULL).
    """
    return sql.SQL(
        """WITH found AS ({found}),
                page AS (SELECT doc, row_number() OVER (ORDER BY {order}) AS n FROM found
                         ORDER BY {order} OFFSET %(offset)s LIMIT %(limit)s)
           SELECT (SELECT count(*) FROM found), page.doc
           FROM (VALUES (1)) AS one LEFT JOIN page ON true
           ORDER BY page.n"""
    ).format(found=sql.SQL(found), order=sql.SQL(order))


def storable(text: str) -> bool:
    """Whether PostgreSQL can hold `text` as a text value."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
