"""Who may read, write and execute what: access levels and the default rights policy.

Access levels are named by the key that authenticated the request (the framings pass these
names as strings, see :class:`osgp.app.framing.C12Backend`):

* optical port: ``MK`` (unique key), ``PK`` (provisioning key), ``RK`` (read-only key), and
  ``OPEN`` for a session that has not passed the security service;
* MEP port: ``MAK`` (advanced), ``MBK`` (basic);
* PLC: ``OMAK`` (the control node / data concentrator that holds the OMA key).

Sources: [OPT] p.13 (MK/PK/RK), [MEP] p.12 and Appendix C (MBK/MAK, read-only tables), the
"Read access / Write access" lines of each table in both guides. Where the guides are silent the
choices are marked CHOICE and listed in docs/app-server.md. The whole policy is data in this one
module; a device can pass its own :class:`RightsPolicy`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_POLICY",
    "ET",
    "AccessLevel",
    "RightsPolicy",
    "parse_access",
]


def ET(n: int) -> int:
    """Extended table / procedure id: ET n = 2048 + n."""
    return 2048 + n


PENDING_OFFSET = 4096


class AccessLevel(enum.StrEnum):
    OPEN = "OPEN"
    RK = "RK"
    PK = "PK"
    MK = "MK"
    MBK = "MBK"
    MAK = "MAK"
    OMAK = "OMAK"


def parse_access(access: str | AccessLevel) -> AccessLevel:
    """Accept an :class:`AccessLevel` or its name (any enum whose ``.name`` matches works too)."""
    if isinstance(access, AccessLevel):
        return access
    name = getattr(access, "name", access)
    try:
        return AccessLevel(str(name).upper())
    except ValueError:
        raise ValueError(f"unknown access level {access!r}") from None


#: Readable without any key: BT00, BT01 ([OPT] p.19, p.52) and ET03 ([OPT] p.18).
OPEN_READ = frozenset({0, 1, ET(3)})

#: Never written by any key: status, dimension, measured data, logs and response tables
#: ([MEP] App. C "Read-only", [OPT] "Write access: None"). BT52 changes through BP10/EP16 only.
READ_ONLY = frozenset(
    {
        0, 1, 3, 4, 8, 20, 21, 22, 23, 24, 25, 26, 28, 52, 55, 60, 61, 63, 64, 65, 66, 67,
        70, 71, 74,
        ET(9), ET(11), ET(14), ET(15), ET(16), ET(17), ET(21), ET(29), ET(30), ET(31), ET(36),
        ET(41), ET(42), ET(45), ET(46), ET(53), ET(54), ET(58), ET(59), ET(66), ET(70), ET(71),
        ET(74), ET(75), ET(79), ET(81), ET(85),
    }
)  # fmt: skip

#: CHOICE: tables holding keys, calibration or download state. RK/MBK/MAK/PK may not read them
#: ([OPT] p.13: RK "all tables except security keys, calibration, and download information").
#: BT42/BT45 are the C12.19 security/key tables; ET17 is the firmware verification bitmap.
SECRET = frozenset({42, 45, ET(17)})

#: MBK writes only these ([MEP] p.12).
MBK_WRITE = frozenset({7, ET(50), ET(51), ET(52)})

#: Procedures MBK may call ([MEP] p.12 and App. C.2): EP16, EP17, EP39, EP61.
MBK_EXECUTE = frozenset({ET(16), ET(17), ET(39), ET(61)})

#: CHOICE: security and billing procedures MAK may not call ([MEP] p.12 "with the exception of
#: tables and procedures used for security and billing"): EP20 key change, EP34 demand reset,
#: and the firmware bank procedures EP08-EP10.
MAK_DENY_EXECUTE = frozenset({ET(20), ET(34), ET(8), ET(9), ET(10)})

#: PK "cannot be used to download firmware" and "cannot read or write security key values"
#: ([OPT] p.13): EP08-EP10 and EP20.
PK_DENY_EXECUTE = frozenset({ET(8), ET(9), ET(10), ET(20)})

#: RK may call BP10 and EP16 when ET04.71 bit 0 is 0 ([MEP] p.59); the server checks that bit.
RK_CLOCK_PROCEDURES = frozenset({10, ET(16)})


def _base(table_id: int) -> int:
    return table_id - PENDING_OFFSET if table_id >= PENDING_OFFSET else table_id


@dataclass(frozen=True)
class RightsPolicy:
    """Table and procedure rights per access level. All sets hold base ids (no +4096)."""

    open_read: frozenset[int] = OPEN_READ
    read_only: frozenset[int] = READ_ONLY
    secret: frozenset[int] = SECRET
    mbk_write: frozenset[int] = MBK_WRITE
    mbk_execute: frozenset[int] = MBK_EXECUTE
    mak_deny_execute: frozenset[int] = MAK_DENY_EXECUTE
    pk_deny_execute: frozenset[int] = PK_DENY_EXECUTE
    rk_clock_procedures: frozenset[int] = RK_CLOCK_PROCEDURES
    #: Extra per-level denials (e.g. a hardware lock): level -> table ids nobody at it may touch.
    locked: dict[AccessLevel, frozenset[int]] = field(default_factory=dict)

    def with_lock(self, level: AccessLevel, table_ids: Iterable[int]) -> RightsPolicy:
        """A copy with a hardware lock: ``level`` gets ISC for these tables and procedures."""
        locked = dict(self.locked)
        locked[level] = frozenset(locked.get(level, frozenset()) | set(table_ids))
        return RightsPolicy(
            self.open_read,
            self.read_only,
            self.secret,
            self.mbk_write,
            self.mbk_execute,
            self.mak_deny_execute,
            self.pk_deny_execute,
            self.rk_clock_procedures,
            locked,
        )

    def _locked(self, level: AccessLevel, ident: int) -> bool:
        return ident in self.locked.get(level, frozenset())

    def may_read(self, access: str | AccessLevel, table_id: int) -> bool:
        level = parse_access(access)
        tid = _base(table_id)
        if self._locked(level, tid):
            return False
        if level in (AccessLevel.MK, AccessLevel.OMAK):
            return True
        if level is AccessLevel.OPEN:
            return tid in self.open_read
        return tid not in self.secret

    def may_write(self, access: str | AccessLevel, table_id: int) -> bool:
        level = parse_access(access)
        tid = _base(table_id)
        if tid in self.read_only or self._locked(level, tid):
            return False
        if level in (AccessLevel.MK, AccessLevel.OMAK):
            return True
        if level is AccessLevel.PK or level is AccessLevel.MAK:
            return tid not in self.secret
        if level is AccessLevel.MBK:
            return tid in self.mbk_write
        return False  # OPEN and RK never write

    def may_execute(
        self, access: str | AccessLevel, procedure_id: int, *, rk_clock_allowed: bool = True
    ) -> bool:
        """``rk_clock_allowed`` is ET04.71 bit 0 == 0 (the server reads it from the store)."""
        level = parse_access(access)
        if self._locked(level, procedure_id):
            return False
        if level in (AccessLevel.MK, AccessLevel.OMAK):
            return True
        if level is AccessLevel.PK:
            return procedure_id not in self.pk_deny_execute
        if level is AccessLevel.MAK:
            return procedure_id not in self.mak_deny_execute
        if level is AccessLevel.MBK:
            return procedure_id in self.mbk_execute
        if level is AccessLevel.RK:
            return rk_clock_allowed and procedure_id in self.rk_clock_procedures
        return False


DEFAULT_POLICY = RightsPolicy()
