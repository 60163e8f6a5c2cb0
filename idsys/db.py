"""Database access: SQLAlchemy 2.0 engine and a session scoped to the Flask app context.

Services receive a ``Session`` explicitly; views use ``db.session`` and commit. The schema is
created and changed only by Alembic migrations (``flask db upgrade``), never by ``create_all``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from flask import Flask, current_app
from flask.globals import app_ctx
from sqlalchemy import MetaData, Table, create_engine, event
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

# Stable constraint names, so that later migrations can drop or alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Row ids are INTEGER columns (PostgreSQL's int4): a larger number cannot name a row, and SQLite
# cannot even compare with one past 64 bits (OverflowError).
MAX_ROW_ID = 2**31 - 1


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table_of(model: type[Base]) -> Table:
    """A model's table, for Core statements on hot paths (typed as a Table, which it is)."""
    return cast(Table, model.__table__)


@dataclass
class DatabaseState:
    engine: Engine
    # Tests bind every session to one connection whose outer transaction they roll back.
    bind: Engine | Connection
    # Each thread's connection for `DirectStatements`.
    kept: threading.local = field(default_factory=threading.local)


def _state() -> DatabaseState:
    state: DatabaseState = current_app.extensions["idsys.db"]
    return state


class _AppSession(Session):
    def get_bind(self, mapper: Any = None, clause: Any = None, **kwargs: Any) -> Any:
        return _state().bind


def _scope() -> int:
    return id(app_ctx._get_current_object())  # type: ignore[attr-defined]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the one writer
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Create an engine with the settings idsys relies on for ``url``'s backend."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


class SessionStatements:
    """Core statements through the session's connection, in its transaction: the caller
    commits. Everywhere the direct way below is not taken."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def first(self, statement: Executable, params: Mapping[str, Any]) -> Sequence[Any] | None:
        return self._session.connection().execute(statement, params).first()

    def execute(self, statement: Executable, params: Mapping[str, Any]) -> None:
        self._session.connection().execute(statement, params)


@dataclass(frozen=True)
class _Compiled:
    statement: Executable  # kept, so that the id it is cached under stays its own
    compiled: SQLCompiler
    sql: str


# By statement, for statements built once (module constants); the direct way serves one
# dialect, PostgreSQL through psycopg.
_COMPILED: dict[int, _Compiled] = {}


def _compiled(statement: Executable, dialect: Dialect) -> _Compiled:
    """``statement`` compiled once for the direct way; TypeError if any of its parameters or
    columns needs SQLAlchemy's type processing, which the direct way does not do."""
    found = _COMPILED.get(id(statement))
    if found is None:
        compiled = cast(SQLCompiler, cast(ClauseElement, statement).compile(dialect=dialect))
        needing = [
            name
            for name, bind in compiled.binds.items()
            if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None
        ] + [
            str(column)
            for column in getattr(statement, "exported_columns", ())
            if column.type.dialect_impl(dialect).result_processor(dialect, None) is not None
        ]
        if needing:
            raise TypeError(f"needs SQLAlchemy's type processing: {', '.join(needing)}")
        found = _COMPILED[id(statement)] = _Compiled(statement, compiled, str(compiled))
    return found


class DirectStatements:
    """Core statements run straight on the driver (psycopg), each committing on its own: for
    the partner API, which answers hundreds of checks a second with one read and one write.

    Per statement, SQLAlchemy's session and connection layers cost about as much CPU as the
    statement itself, and a connection taken from the pool costs a round trip of its own (the
    pre-ping); bench/README.md has the figures. So each worker thread keeps one connection for
    this: taken from the pool once (pinged then), detached from it, in autocommit for good. The
    statements stay SQLAlchemy Core, compiled once by the dialect; only their execution skips
    the layers.

    The kept connection is checked by use, not pinged on every request: a read that finds it
    gone (a database restart, an idle timeout) runs again, once, on a new one. Any other
    failure drops a broken connection and is raised as SQLAlchemy's error, so a lost database
    answers 503 as everywhere else.
    """

    def __init__(self, engine: Engine, kept: threading.local) -> None:
        self._engine, self._kept, self._dialect = engine, kept, engine.dialect

    def first(self, statement: Executable, params: Mapping[str, Any]) -> Sequence[Any] | None:
        """The first row of a statement that returns rows (a SELECT, or DML with RETURNING)."""
        row: Sequence[Any] | None = self._run(statement, params).fetchone()
        return row

    def execute(self, statement: Executable, params: Mapping[str, Any]) -> None:
        self._run(statement, params)

    def _run(self, statement: Executable, params: Mapping[str, Any]) -> Any:
        entry = _compiled(statement, self._dialect)
        values = entry.compiled.construct_params(params)
        # A read has no effect to repeat; a write may have taken effect before the connection
        # was lost, so it is never run twice.
        retry = bool(getattr(statement, "is_select", False))
        while True:
            driver = self._connection()
            try:
                # Prepared from the first use: these statements run on every request.
                return driver.execute(entry.sql, values, prepare=True)
            except self._dialect.loaded_dbapi.Error as exc:
                broken = self._dialect.is_disconnect(exc, driver, None)
                if broken:
                    self._drop(driver)
                if not (broken and retry):
                    raise self._wrapped(exc, entry.sql, values, broken=broken) from exc
                retry = False

    def _connection(self) -> Any:
        """This thread's kept connection (psycopg's), taken from the pool if it has none."""
        driver = getattr(self._kept, "driver", None)
        if driver is None:
            try:
                pooled = self._engine.raw_connection()
            except self._dialect.loaded_dbapi.Error as exc:
                raise self._wrapped(exc, None, None, broken=True) from exc
            driver = cast(Any, pooled.driver_connection)
            pooled.detach()  # the pool no longer counts it, and never gets it back
            driver.autocommit = True
            self._kept.driver = driver
        return driver

    def _drop(self, driver: Any) -> None:
        self._kept.driver = None
        driver.close()  # psycopg closes a broken connection without complaint

    def _wrapped(
        self, exc: Exception, sql: str | None, values: Any, *, broken: bool
    ) -> BaseException:
        """The SQLAlchemy error for a driver's, as SQLAlchemy itself would raise it."""
        return DBAPIError.instance(
            sql,
            values,
            exc,
            self._dialect.loaded_dbapi.Error,
            hide_parameters=True,  # they name a card, and error reports are logged
            connection_invalidated=broken,
            dialect=self._dialect,
        )


Statements = SessionStatements | DirectStatements
_DIRECT = "idsys.direct"


def statements(session: Session) -> Statements:
    """How a hot path runs its Core statements in this request: directly (`DirectStatements`)
    on PostgreSQL through psycopg, on the app's own engine, while the session holds no
    transaction; otherwise through the session (SQLite, and tests whose sessions join an
    outer transaction they roll back). The same choice for the rest of the request."""
    found = session.info.get(_DIRECT)
    if found is not None:
        return cast(DirectStatements, found)
    state = _state()
    if (
        session.get_bind() is state.engine
        and (state.engine.dialect.name, state.engine.dialect.driver) == ("postgresql", "psycopg")
        and not session.in_transaction()
    ):
        direct = session.info[_DIRECT] = DirectStatements(state.engine, state.kept)
        return direct
    return SessionStatements(session)


class Database:
    """The app's database handle: ``db.session`` is valid inside an app context."""

    def __init__(self) -> None:
        self._scoped: scoped_session[Session] = scoped_session(
            # Views render what they just committed; reloading every attribute would be waste.
            sessionmaker(
                class_=_AppSession, join_transaction_mode="create_savepoint", expire_on_commit=False
            ),
            scopefunc=_scope,
        )

    def init_app(self, app: Flask, url: str) -> None:
        engine = make_engine(url)
        app.extensions["idsys.db"] = DatabaseState(engine=engine, bind=engine)

        @app.teardown_appcontext
        def _remove_session(_exc: BaseException | None) -> None:
            self._scoped.remove()

    @property
    def session(self) -> Session:
        """This app context's session (the same object for the whole request)."""
        return self._scoped()

    @property
    def engine(self) -> Engine:
        return _state().engine

    @property
    def metadata(self) -> MetaData:
        return Base.metadata


db = Database()
