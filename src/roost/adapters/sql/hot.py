"""Hot read statements: built with SQLAlchemy Core, run on the driver's own connection.

Executing a compiled, cached Core statement still costs SQLAlchemy about 0.2 ms of CPU (execution
context, parameter processing, result metadata, a greenlet hop), several times what SQLite or
PostgreSQL take to answer the small indexed reads of a feed page; at four statements a page that was
a third of the API's CPU. A `HotQuery` is compiled once per dialect to the driver's SQL and runs
straight on the pooled driver connection of the caller's `AsyncConnection`, inside the caller's
transaction. Rows come back as the driver gives them: tuples (SQLite) or records (asyncpg), indexed
by position, with no result processing (SQLite's booleans are 0 / 1, its timestamps text).

Lists of ids cannot use SQLAlchemy's expanding IN (its SQL depends on the list's length), so a
statement takes them through `id_list`: `json_each` of a JSON array on SQLite, `= ANY` of a bigint
array on PostgreSQL: one SQL text, prepared once, whatever the length.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite
import asyncpg
import orjson
from sqlalchemy import BigInteger, any_, bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.dml import UpdateBase

from roost.adapters.sql.inline_sqlite import InlineConnection
from roost.core.errors import Unavailable

# Where each pooled connection keeps the statement counter of its Database (see database.py).
COUNTER_KEY = "roost_statements"
# ... and the record of its Database's lost connections.
LOSSES_KEY = "roost_losses"


class ConnectionLosses:
    """When a connection of a database was last found lost (a restart, a network cut): the other
    pooled connections of that time are likely dead too, and are checked before they are reused."""

    def __init__(self) -> None:
        self.last = float("-inf")

    def record(self, cause: BaseException) -> None:
        if not isinstance(cause, TimeoutError):  # a slow statement is no sign of dead connections
            self.last = time.monotonic()


IdList = Callable[[ColumnElement[Any], str], ColumnElement[bool]]


def _id_list_for(dialect: str) -> IdList:
    def postgres(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
        return column == any_(bindparam(name, type_=ARRAY(BigInteger)))

    def sqlite(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
        return column.in_(select(literal_column("value")).select_from(func.json_each(bindparam(name))))

    return postgres if dialect == "postgresql" else sqlite


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    order: tuple[str, ...]  # parameter names in the order the driver takes them
    constants: dict[str, Any]  # values fixed in the statement (literals become parameters too)
    # Per parameter, what the driver needs instead of the value: the column type's conversion (a UTC
    # datetime to SQLite's naive text, say), or a JSON array for SQLite's id lists.
    converters: dict[str, Callable[[Any], Any]]

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        values = {**self.constants, **params}
        for name, convert in self.converters.items():
            values[name] = convert(values[name])
        return [values[name] for name in self.order]


def _json_text(values: Sequence[int]) -> str:
    """An id list as SQLite's `json_each` reads it (orjson: 1.3 against json's 7.5 us for 20 ids)."""
    return orjson.dumps(values).decode()


class HotQuery:
    """One read statement, `build(id_list)` spelled for each dialect on first use."""

    def __init__(self, build: Callable[[IdList], Any], *, lists: Sequence[str] = ()) -> None:
        self._build = build
        self._lists = frozenset(lists)
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self._build(_id_list_for(dialect.name)).compile(dialect=dialect)
            assert "POSTCOMPILE" not in compiled.string, "a hot statement's SQL must not depend on its values"
            constants = {name: value for name, value in compiled.params.items() if value is not None}
            converters: dict[str, Callable[[Any], Any]] = {
                bind.key: process
                for bind in compiled.binds.values()
                if bind.key not in self._lists and (process := bind.type.bind_processor(dialect)) is not None
            }
            if dialect.name == "sqlite":
                converters.update(dict.fromkeys(self._lists, _json_text))
            found = _Compiled(compiled.string, tuple(compiled.positiontup or ()), constants, converters)
            self._compiled[dialect.name] = found
        return found

    async def fetch(self, conn: AsyncConnection, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        """The rows, positionally, run in `conn`'s transaction on its driver connection."""
        return await self._run(conn, params, prefix="")

    async def explain(self, conn: AsyncConnection, params: Mapping[str, Any]) -> str:
        """The database's plan for the statement as `fetch` runs it (EXPLAIN; EXPLAIN QUERY PLAN on SQLite)."""
        prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
        return "\n".join(str(row[-1]) for row in await self._run(conn, params, prefix=prefix))

    async def _run(
        self, conn: AsyncConnection, params: Mapping[str, Any], *, prefix: str
    ) -> list[Sequence[Any]]:
        compiled = self.compiled(conn.dialect)
        sql = prefix + compiled.sql
        raw = await raw_connection(conn)
        counter = raw.info.get(COUNTER_KEY)
        if counter is not None:
            counter.record(sql)
        driver = raw.driver_connection
        args = compiled.args(params)
        if isinstance(driver, InlineConnection):
            return driver.run(sql, args)
        if isinstance(driver, aiosqlite.Connection):  # an in-memory database keeps aiosqlite's thread
            async with driver.execute(sql, args) as cursor:
                return list(await cursor.fetchall())
        assert isinstance(driver, asyncpg.Connection)
        try:
            return list(await driver.fetch(sql, *args))
        except (
            asyncpg.InterfaceError,
            asyncpg.PostgresConnectionError,
            asyncpg.AdminShutdownError,
            asyncpg.CannotConnectNowError,
            # The connection learnt of its end mid-call (a terminated backend): not usable either.
            asyncpg.InternalClientError,
            OSError,
        ) as exc:
            # The pool does not see errors raised beside SQLAlchemy: drop the connection here.
            raw.invalidate(exc)
            losses = raw.info.get(LOSSES_KEY)
            if losses is not None:
                losses.record(exc)
            raise Unavailable("the database connection was lost") from exc


async def raw_connection(conn: AsyncConnection) -> Any:
    """The pooled DBAPI connection under `conn`. While it is open and valid, SQLAlchemy hands it out
    without I/O: taken directly, not through `get_raw_connection`'s greenlet (about 9 us each)."""
    sync = conn.sync_connection
    if sync is not None and not sync.closed and not sync.invalidated:
        return sync.connection
    return await conn.get_raw_connection()


class HotWrite:
    """Writes that belong together, each built with Core and named parameters (see `HotQuery`).

    On PostgreSQL they run as one statement of data-modifying CTEs: atomic by itself, so it needs no
    BEGIN and COMMIT around it (`Database.write_once`), one round trip instead of five or more. All
    parts see the same snapshot, so no part may read what another writes, and no two parts may
    change one row (PostgreSQL would skip the second change). The statement's own query reads the
    first part, so that part runs, and takes its row locks, before the others: give it the lock
    that other transactions take first. SQLite has no data-modifying CTEs: there the parts run in
    order inside the caller's write transaction.
    """

    def __init__(
        self,
        first: Callable[[], UpdateBase],
        *rest: Callable[[], UpdateBase],
        returning: Callable[[], Sequence[ColumnElement[Any]]] | None = None,
    ) -> None:
        """`returning`: columns of the rows the first part changes, as they are after the write,
        which `run` gives back (in the same round trip on PostgreSQL)."""

        def leading() -> UpdateBase:
            return first().returning(*returning()) if returning else first().returning(literal_column("1"))

        def combined(_: IdList) -> Any:
            written = leading().cte("w0")
            others = [part().cte(f"w{number}") for number, part in enumerate(rest, start=1)]
            answer = select(*written.c) if returning else select(func.count()).select_from(written)
            return answer.add_cte(*others)

        self._returns = returning is not None
        self._combined = HotQuery(combined)
        self._each = tuple(_alone(part) for part in (leading if returning else first, *rest))

    async def run(self, conn: AsyncConnection, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        """The first part's `returning` rows (none without `returning`)."""
        if conn.dialect.name == "postgresql":
            rows = await self._combined.fetch(conn, params)
        else:
            first, *others = self._each
            rows = await first.fetch(conn, params)
            for part in others:
                await part.fetch(conn, params)
        return rows if self._returns else []


def _alone(part: Callable[[], UpdateBase]) -> HotQuery:
    return HotQuery(lambda _: part())
