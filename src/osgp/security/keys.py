"""Keys and who may do what with them: inventory, parsing, access rights, usage and lockout.

Sources: facts-osgp-application.md 2.1 (key inventory, lockout ET55.20/21, usage ET54.82/86 and
ET04.123), the Optical Port Programmer's Guide p.13 and its per-table "Read/Write access" lines,
and the MEP Client Developer's Guide p.12 and Appendix C (Tables C.1, C.2, C.4).

Everything here is sans-IO: the lockout counter is given ``now`` and answers with the time it
next wants to be woken (:meth:`LockoutCounter.next_timer`), like every protocol core of osgp.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from osgp.security.errors import (
    AccessDenied,
    KeyFormatError,
    KeyUsageExhausted,
    LockedOut,
    ModeRefused,
)


class Port(enum.StrEnum):
    PLC = "plc"
    MEP = "mep"
    OPTICAL = "optical"
    LON = "lon"  # ISO/IEC 14908-1 transport authentication


class AccessLevel(enum.StrEnum):
    """Who is asking, as decided by the key that verified."""

    OPEN = "open"  # optical port, no security service yet: only the "open" tables
    RK = "rk"  # optical Read-only Key
    PK = "pk"  # optical Provisioning Key
    MK = "mk"  # optical Unique Key
    MBK = "mbk"  # MEP Basic Key
    MAK = "mak"  # MEP Advanced Key
    PLC = "plc"  # the control node (data concentrator) over PLC, with the OMA key / AES key


# --- Key inventory ------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeySpec:
    """One kind of key: its port, the bytes the algorithm uses, and how it may be given."""

    name: str
    port: Port
    size: int  # bytes the algorithm uses
    field_size: int  # bytes the device stores / the wire carries (may be larger)
    pad: bool  # whether shorter values are padded with NUL bytes (passwords)
    level: AccessLevel | None
    description: str


KEY_INVENTORY: dict[str, KeySpec] = {
    spec.name: spec
    for spec in (
        KeySpec(
            "OMAK", Port.PLC, 12, 12, False, AccessLevel.PLC,
            "PLC OMA key: 96-bit digest key of the legacy scheme; the RC4 key derives from it",
        ),
        KeySpec(
            "MK", Port.OPTICAL, 20, 20, True, AccessLevel.MK,
            "optical Unique Key: all tables and procedures (subject to the hardware lock)",
        ),
        KeySpec(
            "PK", Port.OPTICAL, 20, 20, True, AccessLevel.PK,
            "optical Provisioning Key: no key tables, no firmware download; can be disabled",
        ),
        KeySpec(
            "RK", Port.OPTICAL, 20, 20, True, AccessLevel.RK,
            "optical Read-only Key: reads all but keys, calibration and download information",
        ),
        KeySpec(
            "MAK", Port.MEP, 16, 20, False, AccessLevel.MAK,
            "MEP Advanced Key: almost everything but security and billing; tried first",
        ),
        KeySpec(
            "MBK", Port.MEP, 16, 20, False, AccessLevel.MBK,
            "MEP Basic Key: read all, write BT07/ET50/ET51/ET52, call EP16/EP17/EP39/EP61",
        ),
        KeySpec(
            "DOMAIN", Port.LON, 6, 6, False, None,
            "ISO/IEC 14908-1 domain authentication key (48 bits); OMA uses domain 0 ‖ 1",
        ),
        KeySpec(
            "PSK", Port.PLC, 16, 16, False, AccessLevel.PLC,
            "OSGP-AES-128-PSK pre-shared key (device keys are derived from it, see aes.py)",
        ),
    )
}  # fmt: skip

#: The default MEP access key of the guide's examples (16 bytes of 0x01). Never deploy it.
MEP_DEFAULT_KEY = bytes([0x01]) * 16

_HEX_SEPARATORS = re.compile(r"[\s:\-_.]")
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")


def parse_key(text: str, length: int, *, pad: bool = False, truncate_from: int = 0) -> bytes:
    """A key given on a command line or in a file, as text or as hex.

    Rules, in order:

    * ``hex:…`` is hex, ``text:…`` is text (the prefixes force the reading);
    * ``0x…``, or hex-digit pairs separated by ``:``, ``-``, ``.``, ``_`` or spaces, is hex;
    * exactly ``2 * length`` (or ``2 * truncate_from``) hex digits, nothing else, is hex;
    * anything else is text, encoded as Latin-1 (one byte per character).

    The result is ``length`` bytes. A shorter value is padded with NUL bytes when ``pad`` (C12.18
    passwords are NUL-padded), else refused. A longer one is refused, unless it is at most
    ``truncate_from`` bytes: then only its first ``length`` bytes are used (the MEP guide: "the
    access key may be up to 20 bytes ... only the first 16 bytes should be used").
    """
    limit = max(length, truncate_from)
    value = _decode_key_text(text, (2 * length, 2 * limit))
    if len(value) > limit:
        raise KeyFormatError(f"key is {len(value)} bytes, at most {limit} allowed: {text!r}")
    if len(value) > length:
        value = value[:length]
    if len(value) < length:
        if not pad:
            raise KeyFormatError(
                f"key is {len(value)} bytes, {length} needed (give {2 * length} hex digits "
                f"or {length} characters): {text!r}"
            )
        value = value.ljust(length, b"\x00")
    return value


def _decode_key_text(text: str, hex_digit_counts: tuple[int, ...]) -> bytes:
    if text.startswith("hex:"):
        return _hex(text[4:], text)
    if text.startswith("text:"):
        return _latin1(text[5:])
    if text[:2] in ("0x", "0X"):
        return _hex(text[2:], text)
    parts = [p for p in _HEX_SEPARATORS.split(text.strip()) if p]
    if len(parts) > 1 and all(len(p) == 2 and _HEX_DIGITS.fullmatch(p) for p in parts):
        return bytes.fromhex("".join(parts))
    if len(text) in hex_digit_counts and _HEX_DIGITS.fullmatch(text):
        return bytes.fromhex(text)
    return _latin1(text)


def _hex(digits: str, original: str) -> bytes:
    cleaned = _HEX_SEPARATORS.sub("", digits)
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise KeyFormatError(f"not a hex key: {original!r}") from None


def _latin1(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        raise KeyFormatError(f"key text must be Latin-1 characters: {text!r}") from None


def parse_named_key(name: str, text: str) -> bytes:
    """Parse a key of the inventory by name (``OMAK``, ``MK``, ``PK``, ``RK``, ``MAK``, ...)."""
    try:
        spec = KEY_INVENTORY[name.upper()]
    except KeyError:
        raise KeyFormatError(
            f"unknown key name {name!r}; known: {', '.join(KEY_INVENTORY)}"
        ) from None
    return parse_key(text, spec.size, pad=spec.pad, truncate_from=spec.field_size)


# --- Security mode (ET04.127) -------------------------------------------------------------------


class SecurityMode(enum.IntEnum):
    """ET04.127 "Security Mode" (PLC). Once AES, every RC4 message is refused."""

    RC4 = 0
    AES_128_PSK = 2


#: ET54.90 "Supported Security Modes" default: bit 0 (RC4) + bit 2 (AES-128-PSK).
SUPPORTED_SECURITY_MODES_DEFAULT = 0x05


def check_security_mode(configured: SecurityMode, used: SecurityMode) -> None:
    """Raise :class:`ModeRefused` when a message's mode is not the device's mode."""
    if configured is SecurityMode.AES_128_PSK and used is not SecurityMode.AES_128_PSK:
        raise ModeRefused("device is in OSGP-AES-128-PSK mode (ET04.127 = 2): RC4 refused")
    if configured is SecurityMode.RC4 and used is not SecurityMode.RC4:
        raise ModeRefused("device is in RC4 mode (ET04.127 = 0): AES messages refused")


# --- Table and procedure rights -----------------------------------------------------------------


def bt(n: int) -> int:
    return n


def et(n: int) -> int:
    return 2048 + n


PENDING_OFFSET = 4096


def _ids(basic: Iterable[int] = (), extended: Iterable[int] = ()) -> frozenset[int]:
    return frozenset([*map(bt, basic), *map(et, extended)])


# MEP guide Appendix C, Table C.1 (read-only column) and Table C.4; the optical guide's
# "Write access: None" tables (BT00, BT04, BT22) agree. Where a chapter-5 "Read/Write Access"
# table of the MEP guide gives a table a write key, that more specific statement wins over
# Appendix C: ET70, ET71 and ET79 are writable there, so they are not read-only here.
READ_ONLY_TABLES = _ids(
    basic=(0, 1, 4, 8, 20, 21, 22, 25, 26, 27, 28, 30, 50, 52, 55, 60, 61, 62, 63, 64, 65, 66, 67,
           70, 71, 74),
    extended=(11, 14, 15, 16, 21, 29, 30, 31, 36, 41, 42, 45, 46, 53, 54, 58, 59, 66, 74, 75, 81,
              85),
)  # fmt: skip
# Table C.1 "MAK has write access" plus Table C.4, plus the chapter-5 access tables (ET61, ET62,
# ET70, ET71, ET79, ET97 "Write MAK"). BT24 is read-only on firmware 3.7X and >= 4.10 (the guide's
# footnote); we keep it writable, as for the other firmware.
MEP_MAK_WRITE = _ids(
    basic=(7, 15, 23, 24, 33, 53, 54),
    extended=(1, 2, 3, 4, 5, 6, 7, 9, 13, 23, 34, 40, 47, 50, 51, 52, 55, 57, 61, 62, 67, 70, 71,
              76, 77, 79, 80, 97),
)  # fmt: skip
# Table C.1 "MBK has write access" (and p.12), plus ET71 ("Write MBK, MAK" in chapter 5).
MEP_MBK_WRITE = _ids(basic=(7,), extended=(50, 51, 52, 71))
# MEP guide p.12 and Table C.2: procedures the MBK may call.
MEP_MBK_PROCEDURES = _ids(extended=(16, 17, 39, 61))
# Optical guide: tables readable without a key.
OPTICAL_OPEN_READ = _ids(basic=(0, 1), extended=(3,))
# Optical guide: tables the RK may not read although it reads "all tables" (BT04, ET21, ET51
# list only MK, PK).
OPTICAL_NOT_RK_READ = _ids(basic=(4,), extended=(21, 51))
# Firmware download procedures (EP08 erase, EP09 download, EP10 switch bank, EP41 MEP download).
FIRMWARE_PROCEDURES = _ids(extended=(8, 9, 10, 41))
# Procedures that change keys (EP20 Change PLC Encryption Key).
KEY_PROCEDURES = _ids(extended=(20,))
# Calibration (EP00 Self Calibration).
CALIBRATION_PROCEDURES = _ids(extended=(0,))
# BP10 set date/time and EP16 gradual clock change: the RK's factory option (ET04.71 bit 0).
RK_TIME_PROCEDURES = frozenset({bt(10), et(16)})


@dataclass(frozen=True)
class AccessPolicy:
    """Table and procedure rights per access level.

    The guides give rights per key, not per table for keys and calibration data, so the tables
    that hold keys, calibration and download information are parameters (a device model knows
    its own). Defaults, **our choice**: no key table (keys are not readable at all, so a device
    should not expose them as a table), ET02 RTC Calibration as calibration, ET17 (firmware
    verification bitmap) as download information. The PLC level (the data concentrator with the
    OMA or AES key) may do everything: **our choice**, the concentrator acts for the utility.
    """

    key_tables: frozenset[int] = frozenset()
    calibration_tables: frozenset[int] = field(default_factory=lambda: _ids(extended=(2,)))
    download_tables: frozenset[int] = field(default_factory=lambda: _ids(extended=(17,)))
    #: ET04.71 bit 0 "RK BP10 + EP16 access".
    rk_time_set: bool = False
    #: ET04.52: the provisioning key can be disabled.
    pk_enabled: bool = True

    def can_read(self, level: AccessLevel, table_id: int) -> bool:
        table = table_id % PENDING_OFFSET  # a pending table has its base table's rights
        if level in (AccessLevel.MK, AccessLevel.PLC):
            return True
        if level is AccessLevel.OPEN:
            return table in OPTICAL_OPEN_READ
        if table in self.key_tables:
            return False  # PK, RK, and MEP keys never read keys ("keys are not readable")
        if level is AccessLevel.PK:
            return self.pk_enabled and table not in self.download_tables
        if level is AccessLevel.RK:
            return table not in (
                self.calibration_tables | self.download_tables | OPTICAL_NOT_RK_READ
            )
        return True  # MAK, MBK: "all tables can be read with either key" (Appendix C)

    def can_write(self, level: AccessLevel, table_id: int) -> bool:
        table = table_id % PENDING_OFFSET
        if table in READ_ONLY_TABLES:
            return False
        if level in (AccessLevel.MK, AccessLevel.PLC):
            return True
        if level is AccessLevel.PK:
            return self.pk_enabled and table not in (self.key_tables | self.download_tables)
        if level is AccessLevel.MAK:
            return table in MEP_MAK_WRITE and table not in self.key_tables
        if level is AccessLevel.MBK:
            return table in MEP_MBK_WRITE
        return False  # OPEN, RK

    def can_execute(self, level: AccessLevel, procedure_id: int) -> bool:
        if level in (AccessLevel.MK, AccessLevel.PLC):
            return True
        if level is AccessLevel.PK:
            return self.pk_enabled and procedure_id not in FIRMWARE_PROCEDURES | KEY_PROCEDURES
        if level is AccessLevel.RK:
            return self.rk_time_set and procedure_id in RK_TIME_PROCEDURES
        if level is AccessLevel.MAK:
            # "almost all procedures ... with the exception of ... security and billing":
            # the exact list is not legible in the guide; our choice is key and calibration.
            return procedure_id not in KEY_PROCEDURES | CALIBRATION_PROCEDURES
        if level is AccessLevel.MBK:
            return procedure_id in MEP_MBK_PROCEDURES
        return False

    def check_read(self, level: AccessLevel, table_id: int) -> None:
        if not self.can_read(level, table_id):
            raise AccessDenied(f"{level.name} may not read table {table_id}")

    def check_write(self, level: AccessLevel, table_id: int) -> None:
        if not self.can_write(level, table_id):
            raise AccessDenied(f"{level.name} may not write table {table_id}")

    def check_execute(self, level: AccessLevel, procedure_id: int) -> None:
        if not self.can_execute(level, procedure_id):
            raise AccessDenied(f"{level.name} may not run procedure {procedure_id}")


DEFAULT_POLICY = AccessPolicy()


# --- Lockout after failed authentication (ET55.20/21, optical ET55.22/23) -----------------------

#: ET55.20 recommendation: at least 30 consecutive failures.
LOCKOUT_THRESHOLD_DEFAULT = 30
#: ET55.21 is in minutes; our default when a device model does not configure it.
LOCKOUT_MINUTES_DEFAULT = 15


class LockoutCounter:
    """Consecutive authentication failures; after ``threshold`` of them, refuse for a while.

    ``threshold`` = ET55.20 (0 disables the lockout: our reading of an unset field);
    ``duration_s`` = ET55.21 minutes x 60. While locked, even a correct key is refused (that is
    the point of a lockout). Sans-IO: pass ``now`` (seconds on the injected clock).
    """

    __slots__ = ("_failures", "_until", "duration_s", "threshold")

    def __init__(
        self,
        threshold: int = LOCKOUT_THRESHOLD_DEFAULT,
        duration_s: float = LOCKOUT_MINUTES_DEFAULT * 60.0,
    ) -> None:
        if threshold < 0 or duration_s < 0:
            raise ValueError("lockout threshold and duration must not be negative")
        self.threshold = threshold
        self.duration_s = duration_s
        self._failures = 0
        self._until: float | None = None

    @classmethod
    def from_et55(cls, threshold: int, minutes: int) -> LockoutCounter:
        return cls(threshold, minutes * 60.0)

    @property
    def failures(self) -> int:
        return self._failures

    @property
    def locked_until(self) -> float | None:
        return self._until

    def locked(self, now: float) -> bool:
        self.handle_timer(now)
        return self._until is not None

    def check(self, now: float) -> None:
        """Raise :class:`LockedOut` while locked; call before verifying a key."""
        if self.locked(now):
            assert self._until is not None
            raise LockedOut(self._until)

    def record_failure(self, now: float) -> bool:
        """Count a failed authentication; returns True if this one started a lockout."""
        if self.locked(now) or self.threshold == 0:
            return False
        self._failures += 1
        if self._failures >= self.threshold:
            self._until = now + self.duration_s
            return True
        return False

    def record_success(self, now: float) -> None:
        """A verified key clears the count of consecutive failures."""
        if not self.locked(now):
            self._failures = 0

    def next_timer(self) -> float | None:
        return self._until

    def handle_timer(self, now: float) -> None:
        if self._until is not None and now >= self._until:
            self._until = None
            self._failures = 0


# --- Key usage (ET54.82 unicast / ET54.86 broadcast, limit ET04.123) ----------------------------

#: ET04.123 maximum key usage.
KEY_USAGE_LIMIT_DEFAULT = 1_000_000
#: An event is raised at 80 % of the limit.
KEY_USAGE_WARNING_FRACTION = 0.8


class KeyUsageCounter:
    """How often a key has been used; warns at 80 % and refuses at the limit until rotated."""

    __slots__ = ("_count", "limit", "warn_at")

    def __init__(self, limit: int = KEY_USAGE_LIMIT_DEFAULT, count: int = 0) -> None:
        if limit < 1 or not 0 <= count <= 0xFFFFFFFF:
            raise ValueError(f"bad key usage limit/count: {limit}/{count}")
        self.limit = limit
        # At least 1, so that even a tiny limit warns once before it is reached.
        self.warn_at = max(1, math.ceil(limit * KEY_USAGE_WARNING_FRACTION))
        self._count = count

    @property
    def count(self) -> int:
        return self._count

    def use(self, n: int = 1) -> bool:
        """Count ``n`` uses; True exactly when this call crosses the 80 % warning level.

        Raises :class:`KeyUsageExhausted` (and counts nothing) if the limit would be exceeded.
        """
        if self._count + n > self.limit:
            raise KeyUsageExhausted(
                f"key used {self._count} times, limit {self.limit}: rotate it (EP20)"
            )
        before = self._count
        self._count += n
        return before < self.warn_at <= self._count

    def reset(self) -> None:
        """The key was changed: start counting again."""
        self._count = 0


__all__ = [
    "DEFAULT_POLICY",
    "KEY_INVENTORY",
    "KEY_USAGE_LIMIT_DEFAULT",
    "LOCKOUT_MINUTES_DEFAULT",
    "LOCKOUT_THRESHOLD_DEFAULT",
    "MEP_DEFAULT_KEY",
    "PENDING_OFFSET",
    "SUPPORTED_SECURITY_MODES_DEFAULT",
    "AccessLevel",
    "AccessPolicy",
    "KeySpec",
    "KeyUsageCounter",
    "LockoutCounter",
    "Port",
    "SecurityMode",
    "bt",
    "check_security_mode",
    "et",
    "parse_key",
    "parse_named_key",
]
