"""API keys: header ``X-API-Key``; role ``read`` (GET only) or ``operator`` (everything).

Keys are stored as SHA-256 in ``api_keys``; the service may also be given static keys (the demo
and tests). A missing or unknown key is 401, a read key on an operator route is 403.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from osgp.headend.db import models as m

__all__ = ["ROLES", "Principal", "create_api_key", "hash_key", "lookup_key"]

ROLES = ("read", "operator")


@dataclass(frozen=True)
class Principal:
    name: str
    role: str

    @property
    def can_operate(self) -> bool:
        return self.role == "operator"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(engine: Engine, name: str, role: str, key: str | None = None) -> str:
    """Store a new key (generated unless given) and return it in clear, once."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    key = key or "osgp_" + secrets.token_urlsafe(24)
    with Session(engine) as session, session.begin():
        session.add(m.ApiKey(name=name, key_sha256=hash_key(key), role=role))
    return key


def lookup_key(engine: Engine, key: str, static: dict[str, str]) -> Principal | None:
    if key in static:
        return Principal(f"static:{static[key]}", static[key])
    with engine.connect() as conn:
        row = conn.execute(
            select(m.ApiKey.name, m.ApiKey.role).where(m.ApiKey.key_sha256 == hash_key(key))
        ).first()
    return None if row is None else Principal(row.name, row.role)
