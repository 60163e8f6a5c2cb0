"""How hot paths run their Core statements (`idsys.db.statements`): directly, on a psycopg
connection each thread keeps, when the app is on PostgreSQL through its own engine; through the
session everywhere else. And what the direct way does with errors and lost connections."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from flask import Flask
from sqlalchemy import Column, Integer, MetaData, String, Table, TypeDecorator, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from idsys.db import DirectStatements, SessionStatements, db, statements
from tests.conftest import PG_URL

_probes = Table(
    "probes", MetaData(), Column("id", Integer, primary_key=True), Column("name", String)
)
_NAME = select(_probes.c.name).where(_probes.c.id == 1)
# Built once, as the direct way expects of its statements (it compiles each once).
_BACKEND = select(text("pg_backend_pid()"))


def _add_probe() -> None:
    """A table of the test's own, with one row named Library."""
    db.session.execute(text("CREATE TABLE probes (id integer PRIMARY KEY, name text)"))
    db.session.execute(text("INSERT INTO probes VALUES (1, 'Library')"))
    db.session.commit()


def test_through_the_session_unless_on_the_apps_own_postgresql_engine(app: Flask) -> None:
    # SQLite, or PostgreSQL with every session joined to the test's outer transaction: a
    # second connection would not see (or would wait for) what the test's transaction holds.
    with app.app_context():
        run = statements(db.session)
        assert isinstance(run, SessionStatements)
        assert run.first(select(text("1")), {}) == (1,)


def _backend(app: Flask) -> int:
    """The server process behind this thread's direct connection, asked in a request of its
    own."""
    with app.app_context():
        run = statements(db.session)
        assert isinstance(run, DirectStatements)
        row = run.first(_BACKEND, {})
        assert row is not None
        return int(row[0])


def test_each_thread_keeps_one_connection_outside_the_pool(own_app: Flask) -> None:
    with own_app.app_context():
        _add_probe()
    first = _backend(own_app)
    assert _backend(own_app) == first  # kept from one request to the next, not pinged
    with own_app.app_context():
        assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        # What the pool hands to sessions stays transactional.
        with db.engine.connect() as connection:
            assert connection.connection.dbapi_connection.autocommit is False  # type: ignore[union-attr]
    other: list[int] = []
    thread = threading.Thread(target=lambda: other.append(_backend(own_app)))
    thread.start()
    thread.join()
    assert other and other[0] != first


def test_a_session_already_in_a_transaction_keeps_its_statements(own_app: Flask) -> None:
    """What the session wrote and has not committed must be seen, and not waited for."""
    with own_app.app_context():
        _add_probe()
        db.session.execute(text("UPDATE probes SET name = 'Renamed' WHERE id = 1"))
        run = statements(db.session)
        assert isinstance(run, SessionStatements)
        assert run.first(_NAME, {}) == ("Renamed",)
        db.session.rollback()


def test_each_direct_statement_commits_on_its_own(own_app: Flask) -> None:
    with own_app.app_context():
        _add_probe()
        run = statements(db.session)
        update = _probes.update().where(_probes.c.id == 1).values(name="Bank")
        run.execute(update, {})
        assert run.first(update.returning(_probes.c.name), {}) == ("Bank",)
        db.session.rollback()  # the session's own transaction has nothing of it
    with psycopg.connect(PG_URL.rsplit("/", 1)[0] + "/" + _database(own_app)) as other:
        assert other.execute("SELECT name FROM probes WHERE id = 1").fetchone() == ("Bank",)


def _database(app: Flask) -> str:
    return str(app.extensions["idsys.db"].engine.url.database)


def test_an_error_is_sqlalchemys_and_leaves_the_connection_usable(own_app: Flask) -> None:
    with own_app.app_context():
        _add_probe()
        run = statements(db.session)
        duplicate = _probes.insert().values(id=1, name="Again")
        with pytest.raises(IntegrityError) as raised:
            run.execute(duplicate, {})
        assert "Again" not in str(raised.value)  # parameters are not put in error reports
        assert run.first(_NAME, {}) == ("Library",)


def _terminate(app: Flask, backend: int) -> None:
    with app.app_context(), db.engine.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})


def test_a_read_that_finds_its_connection_lost_runs_again_on_a_new_one(own_app: Flask) -> None:
    """A database restart or an idle timeout since the last request costs no failed request."""
    with own_app.app_context():
        _add_probe()
    lost = _backend(own_app)
    _terminate(own_app, lost)
    with own_app.app_context():
        assert statements(db.session).first(_NAME, {}) == ("Library",)
    assert _backend(own_app) != lost


def test_a_write_that_finds_its_connection_lost_is_a_503_error_not_run_twice(
    own_app: Flask,
) -> None:
    with own_app.app_context():
        _add_probe()
    lost = _backend(own_app)
    _terminate(own_app, lost)
    with own_app.app_context():
        rename = _probes.update().where(_probes.c.id == 1).values(name="Twice?")
        with pytest.raises(OperationalError) as raised:  # answered 503 by idsys.web
            statements(db.session).execute(rename, {})
        assert raised.value.connection_invalidated
        assert statements(db.session).first(_NAME, {}) == ("Library",)  # on a new connection
    assert _backend(own_app) != lost


class _Shouted(TypeDecorator[str]):
    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return None if value is None else str(value).upper()


def test_statements_that_need_type_processing_are_refused(own_app: Flask) -> None:
    """The direct way hands values to the driver as they are: a column type that converts them
    would silently be skipped, so such a statement is refused before it runs."""
    shouted = Table("shouted", MetaData(), Column("id", Integer), Column("word", _Shouted()))
    with own_app.app_context():
        run = statements(db.session)
        with pytest.raises(TypeError, match="word"):
            run.first(select(shouted.c.id).where(shouted.c.word == "x"), {})
