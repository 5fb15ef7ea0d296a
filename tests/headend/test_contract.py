"""Contract test generated from the API's own OpenAPI document (schemathesis): no request that the
document allows may produce a server error, for either role, on a database with data in it; on
SQLite (many examples) and on the real PostgreSQL (fewer: it catches dialect-only failures such as
NUL characters in text parameters)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine
from tests.headend.sample import segment_batch

from osgp.headend.api import ApiContext, create_app
from osgp.headend.db.session import make_engine, upgrade
from osgp.headend.ingest import Ingestor
from osgp.headend.records import Batch

_tmp = Path(tempfile.mkdtemp(prefix="osgp-contract-"))
_engine = make_engine(f"sqlite:///{_tmp}/contract.db")
upgrade(_engine)
Ingestor(_engine).ensure_concentrator("dc1", "contract-token-0000", transformer="T1")
Ingestor(_engine).ingest("dc1", Batch.model_validate(segment_batch(meters=3, intervals=8)), 1)
app = create_app(ApiContext(_engine, static_keys={"op": "operator", "ro": "read"}))
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_as_operator(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers={"X-API-Key": "op"},
        checks=[not_a_server_error, response_schema_conformance, status_code_conformance],
    )


@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_as_reader(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers={"X-API-Key": "ro"},
        checks=[not_a_server_error, response_schema_conformance, status_code_conformance],
    )


def test_no_server_error_on_postgresql(pg_engine: Engine) -> None:
    Ingestor(pg_engine).ensure_concentrator("dc1", "contract-token-0000", transformer="T1")
    Ingestor(pg_engine).ingest("dc1", Batch.model_validate(segment_batch(meters=3, intervals=8)), 1)
    pg_schema = schemathesis.openapi.from_asgi(
        "/api/v1/openapi.json", create_app(ApiContext(pg_engine, static_keys={"op": "operator"}))
    )
    operations = [result.ok() for result in pg_schema.get_all_operations()]
    assert len(operations) > 20

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers={"X-API-Key": "op"},
                checks=[not_a_server_error, response_schema_conformance, status_code_conformance],
            )

        check()
