"""Database access: SQLAlchemy 2.0 engine and a session scoped to the Flask app context.

Services receive a ``Session`` explicitly; views use ``db.session`` and commit. The schema is
created and changed only by Alembic migrations (``flask db upgrade``), never by ``create_all``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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


# By statement: the direct way serves one dialect, PostgreSQL through psycopg.
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
    """Core statements run straight on a pooled connection's driver (psycopg), each committing
    on its own: for the partner API, which answers hundreds of checks a second with one read
    and one write.

    Per statement, SQLAlchemy's session and connection layers cost about as much CPU as the
    statement itself (bench/README.md). The statements stay SQLAlchemy Core, compiled once by
    the dialect; only their execution skips the layers. Driver errors are raised as
    SQLAlchemy's own (a lost database answers 503, as everywhere else), and a connection found
    broken is invalidated. The connection goes back to the pool, transactional again, when the
    request's session is removed (`release_direct`).
    """

    def __init__(self, engine: Engine) -> None:
        self._dialect = engine.dialect
        try:
            # Checked out as for a session, pre-ping included.
            self._pooled = engine.raw_connection()
        except self._dialect.loaded_dbapi.Error as exc:
            raise self._wrapped(exc, None, None, broken=True) from exc
        self._driver: Any = cast(Any, self._pooled.driver_connection)  # psycopg's Connection
        self._driver.autocommit = True

    def first(self, statement: Executable, params: Mapping[str, Any]) -> Sequence[Any] | None:
        cursor = self._run(statement, params)
        return cursor.fetchone() if cursor.description is not None else None

    def execute(self, statement: Executable, params: Mapping[str, Any]) -> None:
        self._run(statement, params)

    def _run(self, statement: Executable, params: Mapping[str, Any]) -> Any:
        entry = _compiled(statement, self._dialect)
        values = entry.compiled.construct_params(params)
        try:
            # Prepared from the first use: these statements run on every request.
            return self._driver.execute(entry.sql, values, prepare=True)
        except self._dialect.loaded_dbapi.Error as exc:
            broken = self._dialect.is_disconnect(exc, self._driver, None)
            if broken:
                self._pooled.invalidate(exc)
            raise self._wrapped(exc, entry.sql, values, broken=broken) from exc

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

    def release(self) -> None:
        if self._pooled.is_valid and not self._driver.closed:
            self._driver.autocommit = False
        self._pooled.close()


Statements = SessionStatements | DirectStatements
_DIRECT = "idsys.direct"


def statements(session: Session) -> Statements:
    """How a hot path runs its Core statements in this request: directly (`DirectStatements`)
    on PostgreSQL through psycopg, on the app's own engine, while the session holds no
    transaction; otherwise through the session (SQLite, and tests whose sessions join an
    outer transaction they roll back). The same object for the rest of the request."""
    found = session.info.get(_DIRECT)
    if found is not None:
        return cast(DirectStatements, found)
    bind = session.get_bind()
    if (
        isinstance(bind, Engine)
        and (bind.dialect.name, bind.dialect.driver) == ("postgresql", "psycopg")
        and not session.in_transaction()
    ):
        direct = session.info[_DIRECT] = DirectStatements(bind)
        return direct
    return SessionStatements(session)


def release_direct(session: Session) -> None:
    """Give back the connection `statements` took for this session, if it took one."""
    direct = session.info.pop(_DIRECT, None)
    if direct is not None:
        direct.release()


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
            if self._scoped.registry.has():
                release_direct(self._scoped())
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
