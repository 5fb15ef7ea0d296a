"""Head-end storage: SQLAlchemy 2 models, engine/session helpers and Alembic migrations."""

from osgp.headend.db.session import make_engine, make_session_factory, upgrade

__all__ = ["make_engine", "make_session_factory", "upgrade"]
