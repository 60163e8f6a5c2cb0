"""Database access: SQLAlchemy 2.0 engine and a session scoped to the Flask app context.

Services receive a ``Session`` explicitly; views use ``db.session`` and commit. The schema is
created and changed only by Alembic migrations (``flask db upgrade``), never by ``create_all``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from flask import Flask, current_app
from flask.globals import app_ctx
from sqlalchemy import MetaData, Table, create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker

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


def statement_by_statement(session: Session) -> None:
    """Let each of the session's next statements commit on its own (autocommit), where that is
    possible: on PostgreSQL, on the app's own engine, before the session's first statement.

    For hot paths whose every write is one statement: it saves the BEGIN and COMMIT round trips
    of a transaction. Elsewhere (SQLite, a test's session joined to an outer transaction) the
    session stays transactional, and the caller's commit still ends it.
    """
    bind = session.get_bind()
    if (
        isinstance(bind, Engine)
        and bind.dialect.name == "postgresql"
        and not session.in_transaction()
    ):
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


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
