"""The OSGP/OMA 8-byte digest and the ISO/IEC 14908-1 authentication reply built on it.

One function serves three places:

* OSGP application messages (MEP and PLC): ``digest(message, key)``, state starting at zero, the
  message consumed first byte first. MEP keys are 16 bytes (MBK/MAK), the PLC OMA key is 12 bytes.
  Source: MEP Client Developer's Guide, Appendix A (reference C code, p.250-252).
* A response digest covers the request followed by the response: keep a :class:`DigestState`
  after the request, :meth:`DigestState.digest` it (non-destructive) and carry on with the
  response bytes.
* ISO/IEC 14908-1 challenge/response authentication: :func:`auth_reply`. The state starts at the
  8-byte challenge and the bytes are consumed last byte first (izot/lon-stack-dx ``Encrypt``).

The algorithm (facts-osgp-application.md section 2.2): an 8-byte state S. A *pass* walks
``key_iterations(L)`` key bytes (6 for a 6-byte key, 1.5 x L otherwise, so the first half of a
12- or 16-byte key is used twice). Each key byte contributes its bits LSB first, paired with state
indices j = 7, 6, ..., 0; each such step consumes one message byte m (0 past the end of the
message) and sets ``S[j] = S[(j+1) % 8] + m +/- rot(~(S[j] + j))`` (rotate left by one and add
for a 1 bit, rotate right by one and subtract for a 0 bit, all mod 256). Passes repeat until the
message is used up; the last pass is zero-padded. An empty message still runs one full pass
(as the reference code does when called with ``bEnd`` true and no data).

This is a weak MAC by design (Jovanovic & Neves, FSE 2015: key recovery with 13 oracle queries).
It is implemented because deployed devices speak it; new deployments should use
:mod:`osgp.security.aes`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import cycle

from osgp.security.errors import KeyFormatError

DIGEST_SIZE = 8
#: Key lengths the digest accepts: 6 (classic 14908 domain key), 12 (PLC OMA key), 16 (MEP key).
KEY_LENGTHS = (6, 12, 16)


def key_iterations(key_len: int) -> int:
    """Key bytes per pass: ``DIGEBT_KEY_ITERATIONS`` of the MEP reference code."""
    return key_len if key_len == 6 else key_len + key_len // 2


def pass_length(key_len: int) -> int:
    """Message bytes consumed per pass (48, 144 or 192 for key lengths 6, 12 or 16)."""
    return 8 * key_iterations(key_len)


def _step_table(bit: int, j: int) -> bytes:
    """``T[x]``: added to ``S[(j+1)%8] + m`` when ``S[j] == x`` and the key bit is ``bit``."""
    out = bytearray(256)
    for x in range(256):
        n = ~(x + j) & 0xFF
        if bit:
            out[x] = ((n << 1) | (n >> 7)) & 0xFF
        else:
            out[x] = -((n >> 1) | (n << 7)) & 0xFF
    return bytes(out)


# _TABLES[bit][j]: precomputed so that one step is one table look-up and two additions.
_TABLES: tuple[tuple[bytes, ...], ...] = tuple(
    tuple(_step_table(bit, j) for j in range(8)) for bit in (0, 1)
)

# One key byte's schedule: the eight step tables for j = 7, 6, ..., 0 (key bits 0..7).
_ByteSchedule = tuple[bytes, bytes, bytes, bytes, bytes, bytes, bytes, bytes]


def _check_key(key: bytes) -> bytes:
    key = bytes(key)
    if len(key) not in KEY_LENGTHS:
        raise KeyFormatError(
            f"digest key must be {', '.join(map(str, KEY_LENGTHS))} bytes long, got {len(key)}"
        )
    return key


@lru_cache(maxsize=256)
def _schedule(key: bytes) -> tuple[_ByteSchedule, ...]:
    """Per key byte of one pass, the step tables in the order the steps run."""
    scheds: list[_ByteSchedule] = []
    for i in range(key_iterations(len(key))):
        kb = key[i % len(key)]
        t = [_TABLES[(kb >> bit) & 1][7 - bit] for bit in range(8)]
        scheds.append((t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]))
    return tuple(scheds)


class DigestState:
    """Streaming digest: ``update()`` any number of times, ``digest()`` whenever needed.

    ``state`` is the 8-byte starting value: zeros for OSGP, the challenge for 14908
    authentication. ``digest()`` does not change the object, so the same state can go on to
    digest a response after its request (the MEP response digest covers request ‖ response).
    Feeding the message in any split gives the same digest as :func:`digest` on the whole.
    """

    __slots__ = ("_consumed", "_key", "_pos", "_sched", "_state")

    def __init__(self, key: bytes, state: bytes = bytes(DIGEST_SIZE)) -> None:
        self._key = _check_key(key)
        if len(state) != DIGEST_SIZE:
            raise KeyFormatError(f"digest state must be {DIGEST_SIZE} bytes, got {len(state)}")
        self._sched = _schedule(self._key)
        self._state = list(state)
        self._pos = 0  # steps done in the current pass (the reference code's i * 8 + j)
        self._consumed = 0

    @property
    def key(self) -> bytes:
        return self._key

    @property
    def state(self) -> bytes:
        """The raw 8-byte state so far, without the zero padding of the final pass."""
        return bytes(self._state)

    @property
    def position(self) -> int:
        """Message bytes consumed in the current (unfinished) pass."""
        return self._pos

    @property
    def consumed(self) -> int:
        """Message bytes fed so far."""
        return self._consumed

    def copy(self) -> DigestState:
        other = DigestState.__new__(DigestState)
        other._key = self._key
        other._sched = self._sched
        other._state = list(self._state)
        other._pos = self._pos
        other._consumed = self._consumed
        return other

    def update(self, data: bytes | bytearray | memoryview | Iterable[int]) -> DigestState:
        """Consume ``data`` (first byte first); returns ``self`` so calls can be chained."""
        buf = bytes(data)
        self._consumed += len(buf)
        self._run(buf)
        return self

    def digest(self) -> bytes:
        """The 8-byte tag: the state after zero-padding the current pass to its end."""
        plen = 8 * len(self._sched)
        pad = 0
        if self._pos:
            pad = plen - self._pos
        elif self._consumed == 0:
            pad = plen  # an empty message still runs one pass (MEP reference, bEnd true)
        if not pad:
            return bytes(self._state)
        tmp = self.copy()
        tmp._run(bytes(pad))
        return bytes(tmp._state)

    def hexdigest(self) -> str:
        return self.digest().hex()

    def _run(self, buf: bytes) -> None:
        s = self._state
        sched = self._sched
        nkb = len(sched)
        pos = self._pos
        n = len(buf)
        idx = 0
        # Single steps until the position is at a key-byte boundary.
        while idx < n and pos & 7:
            t = sched[pos >> 3][pos & 7]
            j = 7 - (pos & 7)
            s[j] = (s[(j + 1) & 7] + buf[idx] + t[s[j]]) & 0xFF
            idx += 1
            pos += 1
        if pos == 8 * nkb:
            pos = 0
        if idx == n:
            self._pos = pos
            return
        # Whole key bytes: eight steps unrolled on locals (this is the hot loop). The message
        # is read eight bytes at a time and the key schedule cycled, without index arithmetic.
        s0, s1, s2, s3, s4, s5, s6, s7 = s
        kb = pos >> 3
        whole = (n - idx) & ~7
        rotated = sched[kb:] + sched[:kb]
        for (t7, t6, t5, t4, t3, t2, t1, t0), (m0, m1, m2, m3, m4, m5, m6, m7) in zip(
            cycle(rotated), struct.iter_unpack("8B", buf[idx : idx + whole])
        ):
            s7 = (s0 + m0 + t7[s7]) & 0xFF
            s6 = (s7 + m1 + t6[s6]) & 0xFF
            s5 = (s6 + m2 + t5[s5]) & 0xFF
            s4 = (s5 + m3 + t4[s4]) & 0xFF
            s3 = (s4 + m4 + t3[s3]) & 0xFF
            s2 = (s3 + m5 + t2[s2]) & 0xFF
            s1 = (s2 + m6 + t1[s1]) & 0xFF
            s0 = (s1 + m7 + t0[s0]) & 0xFF
        idx += whole
        kb = (kb + whole // 8) % nkb
        s[:] = (s0, s1, s2, s3, s4, s5, s6, s7)
        pos = kb << 3
        # The tail: fewer than eight bytes, single steps again.
        while idx < n:
            t = sched[pos >> 3][pos & 7]
            j = 7 - (pos & 7)
            s[j] = (s[(j + 1) & 7] + buf[idx] + t[s[j]]) & 0xFF
            idx += 1
            pos += 1
        self._pos = pos


def digest(data: bytes, key: bytes) -> bytes:
    """The 8-byte OSGP digest of ``data`` under ``key`` (6, 12 or 16 bytes), state from zero."""
    return DigestState(key).update(data).digest()


def digest_batch(messages: Sequence[bytes], key: bytes) -> list[bytes]:
    """Digests of many messages under one key, vectorised across messages with numpy.

    One message is an unbreakable chain of byte steps, so a single digest cannot be vectorised;
    many messages can (a concentrator verifying a segment's replies, a key-recovery study).
    Messages are grouped by their number of passes and zero-padded to the end of their last
    pass, which leaves their digests unchanged. Equal to ``[digest(m, key) for m in messages]``.
    """
    import numpy as np

    key = _check_key(key)
    plen = pass_length(len(key))
    sched = _schedule(key)
    # Steps in pass order: (table row index, j) with the table as a uint8 array per step.
    flat = b"".join(t for byte_sched in sched for t in byte_sched)
    tables = np.frombuffer(flat, dtype=np.uint8).reshape(plen, 256)
    out: list[bytes] = [b""] * len(messages)
    groups: dict[int, list[int]] = {}
    for i, m in enumerate(messages):
        groups.setdefault(max(1, -(-len(m) // plen)), []).append(i)
    for passes, idxs in groups.items():
        width = passes * plen
        buf = np.zeros((len(idxs), width), dtype=np.uint8)
        for row, i in enumerate(idxs):
            m = messages[i]
            buf[row, : len(m)] = np.frombuffer(bytes(m), dtype=np.uint8)
        cols = np.ascontiguousarray(buf.T)  # one contiguous row per step
        s = np.zeros((8, len(idxs)), dtype=np.uint8)
        looked = np.empty(len(idxs), dtype=np.uint8)
        for step in range(width):
            p = step % plen
            j = 7 - (p & 7)
            # uint8 arithmetic wraps modulo 256, which is exactly the digest's arithmetic.
            np.take(tables[p], s[j], out=looked)
            np.add(s[(j + 1) & 7], cols[step], out=s[j])
            np.add(s[j], looked, out=s[j])
        res = s.T
        for row, i in enumerate(idxs):
            out[i] = res[row].tobytes()
    return out


def response_digest(request: bytes, response: bytes, key: bytes) -> bytes:
    """Digest of a response: over the request (code through sequence number) then the response.

    Neither part includes the MEP length field nor any digest (MEP guide, Appendix A).
    """
    return DigestState(key).update(request).update(response).digest()


# --- ISO/IEC 14908-1 authentication --------------------------------------------------------------

#: Size of the OMA address prepended to the APDU in OMA authentication.
OMA_ADDRESS_SIZE = 9


def oma_address_neuron_id(neuron_id: bytes) -> bytes:
    """OMA address for a message sent to a 48-bit Neuron ID (address format 3)."""
    if len(neuron_id) != 6:
        raise KeyFormatError(f"Neuron ID must be 6 bytes, got {len(neuron_id)}")
    return bytes(neuron_id) + b"\xff" * 3


def oma_address_logical(
    domain_id: bytes,
    *,
    subnet: int | None = None,
    node: int | None = None,
    group: int | None = None,
) -> bytes:
    """OMA address for subnet/node (format 2) or group (format 1) destinations.

    Layout (lon-stack-dx ``OmaAddress``): domain ID as stored in the domain table (6 bytes; a
    shorter ID is padded with zeros here: our choice, the stack copies the table's 6 bytes),
    domain length (1), then either subnet and node (selector bit 7 of the node byte cleared) or
    the group byte followed by 0xFF.
    """
    if len(domain_id) not in (0, 1, 3, 6):
        raise KeyFormatError(f"domain ID must be 0, 1, 3 or 6 bytes, got {len(domain_id)}")
    head = bytes(domain_id).ljust(6, b"\x00") + bytes([len(domain_id)])
    if group is not None:
        if subnet is not None or node is not None:
            raise ValueError("give either group or subnet/node, not both")
        return head + bytes([group & 0xFF, 0xFF])
    if subnet is None or node is None:
        raise ValueError("subnet/node OMA address needs both subnet and node")
    return head + bytes([subnet & 0xFF, node & 0x7F])


def auth_reply(challenge: bytes, apdu_and_header: bytes, key: bytes) -> bytes:
    """The 8-byte ISO/IEC 14908-1 reply to an authentication challenge.

    * ``challenge``: the 8 random bytes of the CHALLENGE AuthPDU; it is the starting state.
    * ``apdu_and_header``: the bytes covered, in wire order. Classic authentication (6-byte key):
      the APDU of the original message, from its destination/type code byte to its last data byte
      (no TPDU/SPDU header, no addresses). OMA authentication (12-byte key = domain-0 key ‖
      domain-1 key): the 9-byte OMA address (see :func:`oma_address_neuron_id`,
      :func:`oma_address_logical`) followed by that APDU.
    * The bytes are consumed **last byte first**: the APDU's last data byte first, its code byte
      after the rest of the APDU, then (OMA) the OMA address from its byte 8 down to byte 0.
    * The final pass is zero-padded like the OSGP digest. An empty input runs no pass and returns
      the challenge unchanged (lon-stack-dx loops ``while (apduSize > 0)``); real APDUs are never
      empty.
    """
    if len(challenge) != DIGEST_SIZE:
        raise KeyFormatError(f"challenge must be {DIGEST_SIZE} bytes, got {len(challenge)}")
    if not apdu_and_header:
        _check_key(key)
        return bytes(challenge)
    return DigestState(key, challenge).update(bytes(apdu_and_header)[::-1]).digest()


__all__ = [
    "DIGEST_SIZE",
    "KEY_LENGTHS",
    "OMA_ADDRESS_SIZE",
    "DigestState",
    "auth_reply",
    "digest",
    "digest_batch",
    "key_iterations",
    "oma_address_logical",
    "oma_address_neuron_id",
    "pass_length",
    "response_digest",
]
