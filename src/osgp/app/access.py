"""Who may read, write and execute what, as the table server asks it.

The rights themselves live in :mod:`osgp.security.keys` (``AccessPolicy``: the MEP guide's
Appendix C, the optical guide's per-table access lines, and that module's documented choices).
This module adapts them to the server:

* access levels are named by the key that authenticated the request, as the framings pass them
  (:class:`osgp.app.framing.C12Backend`): ``MK``, ``PK``, ``RK``, ``OPEN`` (optical), ``MAK``,
  ``MBK`` (MEP), ``OMAK`` (PLC: the control node with the OMA or AES key). The security module's
  own names (``mk`` ... ``plc``) are accepted too;
* the RK's right to call BP10/EP16 follows ET04.71 bit 0 at the time of the request (the server
  reads the bit and passes it in);
* a hardware lock ([OPT] p.13, [MEP] p.12) can deny chosen tables and procedures to a level.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from osgp.security import keys

__all__ = [
    "DEFAULT_POLICY",
    "ET",
    "AccessLevel",
    "RightsPolicy",
    "parse_access",
]

PENDING_OFFSET = keys.PENDING_OFFSET
#: Extended table / procedure id: ET n = 2048 + n (the numbering the rights are written in).
ET = keys.et


class AccessLevel(enum.StrEnum):
    OPEN = "OPEN"
    RK = "RK"
    PK = "PK"
    MK = "MK"
    MBK = "MBK"
    MAK = "MAK"
    OMAK = "OMAK"


_ALIASES = {"PLC": AccessLevel.OMAK}

_TO_SECURITY = {
    AccessLevel.OPEN: keys.AccessLevel.OPEN,
    AccessLevel.RK: keys.AccessLevel.RK,
    AccessLevel.PK: keys.AccessLevel.PK,
    AccessLevel.MK: keys.AccessLevel.MK,
    AccessLevel.MBK: keys.AccessLevel.MBK,
    AccessLevel.MAK: keys.AccessLevel.MAK,
    AccessLevel.OMAK: keys.AccessLevel.PLC,
}


def parse_access(access: str | enum.Enum) -> AccessLevel:
    """Accept an :class:`AccessLevel`, a name (``"MK"``, ``"omak"``) or the security module's
    :class:`osgp.security.keys.AccessLevel` (``plc`` is ``OMAK``)."""
    if isinstance(access, AccessLevel):
        return access
    name = str(access.value if isinstance(access, enum.Enum) else access).upper()
    if name in _ALIASES:
        return _ALIASES[name]
    try:
        return AccessLevel(name)
    except ValueError:
        raise ValueError(f"unknown access level {access!r}") from None


@dataclass(frozen=True)
class RightsPolicy:
    """The security module's policy, plus hardware locks, asked with the server's level names."""

    policy: keys.AccessPolicy = field(default_factory=keys.AccessPolicy)
    #: Hardware lock: level -> table and procedure ids that level may not touch.
    locked: dict[AccessLevel, frozenset[int]] = field(default_factory=dict)

    def with_lock(self, level: AccessLevel, ids: Iterable[int]) -> RightsPolicy:
        """A copy where ``level`` gets "isc" for these tables and procedures."""
        locked = dict(self.locked)
        locked[level] = frozenset(locked.get(level, frozenset()) | set(ids))
        return RightsPolicy(self.policy, locked)

    def _locked(self, level: AccessLevel, ident: int) -> bool:
        base = ident - PENDING_OFFSET if ident >= PENDING_OFFSET else ident
        return base in self.locked.get(level, frozenset())

    def may_read(self, access: str | enum.Enum, table_id: int) -> bool:
        level = parse_access(access)
        if self._locked(level, table_id):
            return False
        return self.policy.can_read(_TO_SECURITY[level], table_id)

    def may_write(self, access: str | enum.Enum, table_id: int) -> bool:
        level = parse_access(access)
        if self._locked(level, table_id):
            return False
        return self.policy.can_write(_TO_SECURITY[level], table_id)

    def may_execute(
        self, access: str | enum.Enum, procedure_id: int, *, rk_clock_allowed: bool = True
    ) -> bool:
        """``rk_clock_allowed`` is "ET04.71 bit 0 == 0" (the server reads it from the store)."""
        level = parse_access(access)
        if self._locked(level, procedure_id):
            return False
        policy = dataclasses.replace(self.policy, rk_time_set=rk_clock_allowed)
        return policy.can_execute(_TO_SECURITY[level], procedure_id)


DEFAULT_POLICY = RightsPolicy()
