"""Weak-setting checks for OSGP meters: what ``osgp audit`` reports.

The checker works on a :class:`MeterView`: the security tables of one meter (ET04, ET54, ET55 as
raw images) and the keys the auditor knows to be in use. A view comes from a served meter's
configuration (:func:`view_of_served_meter`), or from the tables read over the optical port or
the MEP port with the auditor's key (:func:`view_over_optical`, :func:`view_over_mep`).
:func:`check_meter` turns a view into :class:`Finding` s, each with a severity, what was seen
and what to do; :func:`check_fleet` does it for many meters.

Table offsets (facts-osgp-application.md 2.1, MEP guide ch.5): ET04.12 bit 3 "Disable PLC
encryption", ET04.52 "PK Access" (1 = disabled), ET04.123 maximum key usage (UINT32),
ET04.127 "Security Mode" (0 RC4, 2 OSGP-AES-128-PSK), ET54.82 unicast key usage (UINT32),
ET55.20/21 PLC failed-authentication lockout threshold and minutes, ET55.22/23 the same for
the optical port. Multi-byte fields are little-endian, as the served meter writes them.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from osgp.security.keys import MEP_DEFAULT_KEY

if TYPE_CHECKING:
    from osgp.app.meter import ServedMeter

ET04 = 2048 + 4
ET54 = 2048 + 54
ET55 = 2048 + 55

ET04_FLAGS = 12
ET04_PLC_ENCRYPTION_DISABLED = 0x08  # bit 3
ET04_PK_ACCESS = 52
ET04_MAX_KEY_USAGE = 123
ET04_SECURITY_MODE = 127
ET54_UNICAST_KEY_USAGE = 82
ET55_PLC_LOCKOUT = 20
ET55_OPTICAL_LOCKOUT = 22

SECURITY_MODE_RC4 = 0
SECURITY_MODE_AES = 2
#: ET04.123's event threshold: a key used for 80 % of its maximum must be rotated (EP20).
KEY_USAGE_WARNING = 0.8

#: Key values an auditor must never find in use, with where they are documented. CHOICE: the
#: guides document one default (the MEP guide's MAK of 16 x 0x01, used in all its examples);
#: all-zero keys are what an unset 14908 domain key and this project's simulator default hold.
DEFAULT_KEYS: dict[str, tuple[tuple[bytes, str], ...]] = {
    "MAK": (
        (MEP_DEFAULT_KEY, "the MEP guide's default MAK (16 x 0x01)"),
        (bytes(16), "all zero"),
    ),
    "MBK": (
        (MEP_DEFAULT_KEY, "the MEP guide's default access key (16 x 0x01)"),
        (bytes(16), "all zero"),
    ),
    "OMAK": (
        (bytes(12), "all zero (unset domain keys; osgp's simulator default)"),
        (bytes([0x01]) * 12, "12 x 0x01 (the MEP default pattern)"),
    ),
    "PSK": ((bytes(16), "all zero"), (MEP_DEFAULT_KEY, "16 x 0x01")),
    "MK": ((b"", "empty password"), (bytes(20), "all NUL")),
    "PK": ((b"", "empty password"), (bytes(20), "all NUL")),
    "RK": ((b"", "empty password"), (bytes(20), "all NUL")),
}


_KEY_REMEDY = {
    "OMAK": "install a unique random PLC key per meter with EP20 (Change PLC Encryption Key)",
    "PSK": "provision a unique random pre-shared key per meter",
    "MAK": "write a unique random MAK per meter (its key table, with the MK over the optical port)",
    "MBK": "write a unique random MBK per meter (its key table, with the MK over the optical port)",
    "MK": "set a unique random optical MK per meter",
    "PK": "set a project PK, and disable it after installation (ET04.52 = 1)",
    "RK": "set a random RK per project or batch",
}


class Severity(enum.IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


@dataclass(frozen=True)
class Finding:
    meter: str
    check: str
    severity: Severity
    title: str
    detail: str
    remedy: str

    def as_dict(self) -> dict[str, str]:
        return {
            "meter": self.meter,
            "check": self.check,
            "severity": self.severity.name.lower(),
            "title": self.title,
            "detail": self.detail,
            "remedy": self.remedy,
        }


@dataclass
class MeterView:
    """What the auditor could see of one meter."""

    name: str
    source: str
    et04: bytes | None = None
    et54: bytes | None = None
    et55: bytes | None = None
    #: Keys known to be in use (given by the auditor and accepted by the meter), by name.
    keys: dict[str, bytes] = field(default_factory=dict)
    #: Whether the MEP port accepts digest-only/RC4 requests (None: not known).
    mep_accepts_legacy: bool | None = None
    notes: list[str] = field(default_factory=list)


def _u8(image: bytes | None, offset: int) -> int | None:
    return image[offset] if image is not None and len(image) > offset else None


def _u32(image: bytes | None, offset: int) -> int | None:
    if image is None or len(image) < offset + 4:
        return None
    return int.from_bytes(image[offset : offset + 4], "little")


def _norm(name: str, key: bytes) -> bytes:
    return key.rstrip(b"\x00") if name in ("MK", "PK", "RK") else key


def _default_key(name: str, key: bytes) -> str | None:
    for value, where in DEFAULT_KEYS.get(name, ()):
        if _norm(name, key) == _norm(name, value):
            return where
    return None


def check_meter(view: MeterView) -> list[Finding]:
    """Every finding for one meter, most severe first."""
    out: list[Finding] = []

    def add(check: str, sev: Severity, title: str, detail: str, remedy: str) -> None:
        out.append(Finding(view.name, check, sev, title, detail, remedy))

    mode = _u8(view.et04, ET04_SECURITY_MODE)
    if mode is None:
        add(
            "security-mode", Severity.INFO, "security mode unknown",
            "ET04.127 could not be read", "read ET04 with a key that may (MK, MAK, or the PLC)",
        )  # fmt: skip
    elif mode == SECURITY_MODE_RC4:
        add(
            "security-mode", Severity.HIGH, "legacy security (RC4 + OMA digest)",
            "ET04.127 = 0: PLC requests are authenticated with the OMA digest, whose 96-bit key "
            "is recovered from one captured request and ~144 accept/refuse answers (Jovanovic & "
            "Neves, FSE 2015); the RC4 key derives from it",
            "provision the OSGP-AES-128-PSK key, then write ET04.127 = 2 (ET54.90 bit 2 shows "
            "support); `osgp audit --recover-key` demonstrates the risk",
        )  # fmt: skip
    elif mode != SECURITY_MODE_AES:
        add(
            "security-mode", Severity.MEDIUM, f"unknown security mode {mode}",
            f"ET04.127 = {mode} is neither 0 (RC4) nor 2 (AES)", "write ET04.127 = 2",
        )  # fmt: skip
    flags = _u8(view.et04, ET04_FLAGS)
    if flags is not None and flags & ET04_PLC_ENCRYPTION_DISABLED:
        legacy = mode == SECURITY_MODE_RC4
        add(
            "encryption-off", Severity.HIGH if legacy else Severity.LOW, "PLC encryption disabled",
            "ET04.12 bit 3 is set: requests and readings travel in clear on the power line"
            + (", and every captured request is a plaintext-tag pair for the key recovery"
               if legacy else " when the legacy mode is used"),
            "clear ET04.12 bit 3 (and move to AES: ET04.127 = 2)",
        )  # fmt: skip
    for name, key in sorted(view.keys.items()):
        where = _default_key(name, key)
        if where is not None:
            add(
                "default-key", Severity.CRITICAL, f"default {name} in use",
                f"the meter accepts {where} as its {name}: anyone with the guide can log on",
                _KEY_REMEDY.get(name, f"write a unique random {name} per meter"),
            )  # fmt: skip
        elif len(set(_norm(name, key))) <= 2:
            add(
                "weak-key", Severity.MEDIUM, f"low-entropy {name}",
                f"the {name} uses at most two distinct byte values",
                f"generate the {name} from a cryptographic random source",
            )  # fmt: skip
    plc_lock = _u8(view.et55, ET55_PLC_LOCKOUT)
    if plc_lock == 0:
        add(
            "lockout-off", Severity.HIGH, "PLC lockout disabled",
            "ET55.20 = 0: failed PLC authentications are never locked out, so guesses and "
            "forgery attempts run at line speed",
            "write ET55.20 = 30 (the guide's recommendation) and ET55.21 = the lockout minutes",
        )  # fmt: skip
    elif plc_lock is not None and mode == SECURITY_MODE_RC4:
        add(
            "lockout-bypass", Severity.INFO, "PLC lockout does not stop the key recovery",
            f"ET55.20 = {plc_lock} consecutive failures: the attack confirms every refused "
            "guess with an accepted one, which resets the count",
            "only AES (ET04.127 = 2) stops it",
        )  # fmt: skip
    if _u8(view.et55, ET55_OPTICAL_LOCKOUT) == 0:
        add(
            "lockout-off", Severity.MEDIUM, "optical lockout disabled",
            "ET55.22 = 0: optical passwords can be guessed without a lockout",
            "write ET55.22/23 (e.g. 5 failures, 60 minutes)",
        )  # fmt: skip
    limit = _u32(view.et04, ET04_MAX_KEY_USAGE)
    used = _u32(view.et54, ET54_UNICAST_KEY_USAGE)
    if limit and used is not None and used >= KEY_USAGE_WARNING * limit:
        add(
            "key-usage", Severity.MEDIUM, "PLC key near its usage limit",
            f"ET54.82 = {used} of ET04.123 = {limit} uses ({100 * used / limit:.0f} %)",
            "rotate the PLC key with EP20 (the usage counter restarts)",
        )  # fmt: skip
    if limit == 0:
        add(
            "key-usage", Severity.LOW, "no PLC key usage limit",
            "ET04.123 = 0", "set ET04.123 (default 1,000,000) and rotate keys with EP20",
        )  # fmt: skip
    if _u8(view.et04, ET04_PK_ACCESS) == 0:
        add(
            "pk-enabled", Severity.LOW, "optical provisioning key enabled",
            "ET04.52 = 0: the PK, shared by installers, still opens the optical port",
            "write ET04.52 = 1 once the meter is installed",
        )  # fmt: skip
    if view.mep_accepts_legacy:
        add(
            "mep-legacy", Severity.HIGH, "MEP port accepts OMA-digest/RC4 requests",
            "the MEP key is recovered the same way (~190 queries for 16 bytes); the MEP guide "
            "itself discourages RC4 on MEP",
            "require TLS-PSK/AES on the MEP port (ET97 \"Require TLS\"; osgp: --mep-require-aes)",
        )  # fmt: skip
    out.sort(key=lambda f: (-f.severity, f.check))
    return out


def check_fleet(views: Iterable[MeterView]) -> list[Finding]:
    findings: list[Finding] = []
    for v in views:
        findings += check_meter(v)
    findings.sort(key=lambda f: (-f.severity, f.meter, f.check))
    return findings


# --- where views come from ------------------------------------------------------------------------


def view_of_served_meter(meter: ServedMeter, name: str) -> MeterView:
    """The configuration and tables of an in-process served meter."""
    store = meter.store
    k = meter.keys
    keys = {
        n: v
        for n, v in (
            ("OMAK", k.omak), ("MAK", k.mak), ("MBK", k.mbk), ("MK", k.mk), ("PK", k.pk),
            ("RK", k.rk), ("PSK", k.aes_psk),
        )
        if v is not None
    }  # fmt: skip
    if keys.get("MAK") is not None:
        keys["MAK"] = keys["MAK"][:16]
    if keys.get("MBK") is not None:
        keys["MBK"] = keys["MBK"][:16]
    has_mep = bool(k.mep())
    return MeterView(
        name=name,
        source="served meter configuration and tables",
        et04=store.image(ET04) if store.has(ET04) else None,
        et54=store.image(ET54) if store.has(ET54) else None,
        et55=store.image(ET55) if store.has(ET55) else None,
        keys=keys,
        mep_accepts_legacy=(not meter.mep_require_aes) if has_mep else None,
    )


def _read_all(read: object, name: str) -> tuple[dict[int, bytes], list[str]]:
    assert callable(read)
    fn: Callable[[int], bytes] = read
    images: dict[int, bytes] = {}
    notes: list[str] = []
    for tid in (ET04, ET54, ET55):
        try:
            images[tid] = fn(tid)
        except Exception as exc:  # any refusal: report it, audit what we have
            notes.append(f"{name}: could not read ET{tid - 2048:02d}: {exc}")
    return images, notes


def view_over_mep(url: str, key: bytes, *, level: str = "MAK", aes: bool = False) -> MeterView:
    """Read the security tables over a MEP endpoint (``tcp://HOST:PORT`` or a serial device).

    A digest-only read is tried first: if the meter answers it, the MEP port accepts the legacy
    scheme. Otherwise the tables are read with AES when ``aes`` is set."""
    from osgp.app.io import SerialTransport, SyncMepClient, endpoint_url

    notes: list[str] = []
    legacy: bool | None = None
    images: dict[int, bytes] = {}
    for use_aes in [False, True] if aes else [False]:
        client = SyncMepClient(SerialTransport(endpoint_url(url)), key, aes=use_aes, timeout=5.0)
        try:
            images, notes = _read_all(client.read, f"MEP {url}")
        finally:
            client.close()
        if not use_aes:
            legacy = ET04 in images
        if images:
            break
    return MeterView(
        name=f"mep {url}", source=f"tables over MEP ({level})", et04=images.get(ET04),
        et54=images.get(ET54), et55=images.get(ET55), keys={level: key[:16]} if images else {},
        mep_accepts_legacy=legacy, notes=notes,
    )  # fmt: skip


def view_over_optical(url: str, key: bytes, *, level: str = "MK") -> MeterView:
    """Read the security tables over the optical port (C12.18) with the auditor's password."""
    from osgp.app.io import SerialTransport, SyncOpticalClient, endpoint_url

    client = SyncOpticalClient(SerialTransport(endpoint_url(url)), timeout=5.0)
    notes: list[str] = []
    images: dict[int, bytes] = {}
    logged_on = False
    try:
        client.start()
        client.login(key)
        logged_on = True
        images, notes = _read_all(client.read, f"optical {url}")
    except Exception as exc:
        notes.append(f"optical {url}: {exc}")
    finally:
        client.close()
    return MeterView(
        name=f"optical {url}", source=f"tables over the optical port ({level})",
        et04=images.get(ET04), et54=images.get(ET54), et55=images.get(ET55),
        keys={level: key} if logged_on else {}, notes=notes,
    )  # fmt: skip


def view_over_plc(request: Callable[[bytes], bytes], name: str) -> MeterView:
    """Read the security tables over PLC: ``request(c12) -> C12 response`` sends one
    authenticated request (see :func:`osgp.audit.plc_link.plc_exchange`). One 14908 APDU
    carries at most 228 bytes, so only the prefixes holding the checked fields are read."""
    from osgp.app.services import PartialReadRequest

    images: dict[int, bytes] = {}
    notes: list[str] = []
    for tid, count in ((ET04, ET04_SECURITY_MODE + 1), (ET54, 90), (ET55, 24)):
        try:
            resp = request(PartialReadRequest(tid, 0, count).to_bytes())
        except Exception as exc:
            notes.append(f"{name}: could not read ET{tid - 2048:02d}: {exc}")
            continue
        if resp[:1] != b"\x00" or len(resp) < 3:
            notes.append(f"{name}: ET{tid - 2048:02d} refused with 0x{resp[0]:02X}")
            continue
        images[tid] = resp[3 : 3 + int.from_bytes(resp[1:3], "big")]
    return MeterView(
        name=name, source="tables over PLC (CN/IP, OMA key)", et04=images.get(ET04),
        et54=images.get(ET54), et55=images.get(ET55), notes=notes,
    )  # fmt: skip


# --- output ---------------------------------------------------------------------------------------


def format_findings(findings: list[Finding], views: Iterable[MeterView] = ()) -> str:
    lines: list[str] = []
    for v in views:
        lines.append(f"meter {v.name}: {v.source}")
        lines += [f"  note: {n}" for n in v.notes]
    if not findings:
        lines.append("no weak settings found")
    for f in findings:
        lines.append(f"{f.severity.name:<8} {f.check:<15} {f.meter}: {f.title}")
        lines.append(f"{'':<25}seen: {f.detail}")
        lines.append(f"{'':<25}fix:  {f.remedy}")
    counts = {s: sum(1 for f in findings if f.severity == s) for s in Severity}
    lines.append(
        "summary: " + ", ".join(f"{counts[s]} {s.name.lower()}" for s in reversed(Severity))
    )
    return "\n".join(lines)


def findings_json(findings: list[Finding], extra: Mapping[str, object] | None = None) -> str:
    doc: dict[str, object] = {"findings": [f.as_dict() for f in findings]}
    if extra:
        doc.update(extra)
    return json.dumps(doc, indent=2)


__all__ = [
    "DEFAULT_KEYS",
    "Finding",
    "MeterView",
    "Severity",
    "check_fleet",
    "check_meter",
    "findings_json",
    "format_findings",
    "view_of_served_meter",
    "view_over_mep",
    "view_over_optical",
    "view_over_plc",
]
