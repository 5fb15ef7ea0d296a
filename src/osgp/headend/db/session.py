"""Engines, sessions and migrations.

SQLite is the embedded default (a file, WAL journal, foreign keys on); PostgreSQL is the
production store through psycopg 3 (``postgresql+psycopg://user@host:5432/db``). The schema is
managed only by Alembic: :func:`upgrade` brings any database to the newest revision.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "DEFAULT_DB_URL",
    "autogenerate_revision",
    "current_revision",
    "make_engine",
    "make_session_factory",
    "upgrade",
]

DEFAULT_DB_URL = "sqlite:///osgp-headend.db"
MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str = DEFAULT_DB_URL, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("postgresql://"):
        # psycopg 3 is the only PostgreSQL driver we ship; accept the plain scheme too.
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            if ":memory:" not in url and url != "sqlite://":
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` to ``revision`` (default: the newest)."""
    from alembic import command

    cfg = _alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def autogenerate_revision(engine: Engine, message: str) -> str:
    """Write a migration for what the models have and the database (at head) lacks; returns
    the new file's path. For maintainers changing :mod:`osgp.headend.db.models`."""
    from alembic import command

    cfg = _alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        script = command.revision(cfg, message=message, autogenerate=True)
    scripts = script if isinstance(script, list) else [script]
    return ", ".join(str(s.path) for s in scripts if s is not None)


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or None if it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        rev: str | None = MigrationContext.configure(conn).get_current_revision()
        return rev
