"""Fixtures for the head-end tests.

PostgreSQL (127.0.0.1:5432, database ``test``) and MQTT (127.0.0.1:1883) are real services here:
a test that needs one FAILS with a clear message when it is unreachable (never skips). Each
PostgreSQL test gets its own freshly created database, dropped afterwards.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from osgp.headend.db.session import make_engine, upgrade
from osgp.headend.ingest import Ingestor

PG_URL = os.environ.get("OSGP_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MQTT_HOST = os.environ.get("OSGP_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("OSGP_TEST_MQTT_PORT", "1883"))
TOKEN = "dc1-link-token-for-tests"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    if not _reachable("127.0.0.1", 5432):
        pytest.fail(
            f"PostgreSQL is not reachable at 127.0.0.1:5432 ({PG_URL}); these integration tests "
            "need the real server (start it, or set OSGP_TEST_PG)",
            pytrace=False,
        )


def require_mqtt() -> None:
    if not _reachable(MQTT_HOST, MQTT_PORT):
        pytest.fail(
            f"MQTT broker is not reachable at {MQTT_HOST}:{MQTT_PORT}; these integration tests "
            "need a real broker (start mosquitto)",
            pytrace=False,
        )


@pytest.fixture
def sqlite_engine(tmp_path: os.PathLike[str]) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path}/headend.db")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    require_postgres()
    name = "osgp_test_" + uuid.uuid4().hex[:12]
    admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(PG_URL.rsplit("/", 1)[0] + "/" + name)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Both dialects: the same test runs on SQLite and on the real PostgreSQL."""
    fixture = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    e: Engine = request.getfixturevalue(fixture)
    return e


@pytest.fixture
def with_dc1(engine: Engine) -> Engine:
    Ingestor(engine).ensure_concentrator("dc1", TOKEN, transformer="T1")
    return engine
