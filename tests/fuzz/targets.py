"""Every decoder of osgp as a fuzz target: what to call, which errors are the library's own, and
how to draw valid inputs to mutate.

A target's ``decode`` takes untrusted bytes. It may raise only the errors in ``errors`` (the
layer's one error type); anything else (IndexError, struct.error, KeyError, a hang) is a crash.
Session targets (a server fed any byte stream) must not raise at all.

Used by the CI test (``test_fuzz.py``, hypothesis with a fixed budget) and by the on-demand long
run (``run_long.py``, atheris or a mutation loop).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache

from hypothesis import strategies as st

Decoder = Callable[[bytes], object]


@dataclass(frozen=True)
class Target:
    name: str
    decode: Decoder
    errors: tuple[type[BaseException], ...]
    valid: st.SearchStrategy[bytes]
    max_size: int = 300


def check(target: Target, data: bytes) -> None:
    """Run one input; re-raises anything that is not one of the target's own errors."""
    with contextlib.suppress(*target.errors):
        target.decode(data)


# --- mutations of valid inputs ------------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[bytes]) -> bytes:
    """A valid encoding with a few edits: bit flips, byte sets, cuts, insertions, duplication."""
    data = bytearray(draw(valid))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.integers(0, 5))
        n = len(data)
        if op == 0 and n:  # flip one bit
            i = draw(st.integers(0, n - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == 1 and n:  # set a byte to an interesting value
            i = draw(st.integers(0, n - 1))
            data[i] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF]))
        elif op == 2:  # truncate
            data = data[: draw(st.integers(0, n))]
        elif op == 3:  # insert bytes
            i = draw(st.integers(0, n))
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == 4 and n:  # delete a range
            i = draw(st.integers(0, n - 1))
            del data[i : i + draw(st.integers(1, 8))]
        elif op == 5:  # duplicate the tail
            data += data[draw(st.integers(0, n)) :]
    return bytes(data)


def inputs(target: Target) -> st.SearchStrategy[bytes]:
    """Random bytes, valid inputs, and mutated valid inputs."""
    return st.one_of(
        st.binary(max_size=target.max_size),
        target.valid,
        mutated(target.valid),
    )


# --- the targets ----------------------------------------------------------------------------------


def _lon() -> list[Target]:
    from tests.lon import strategies as ls

    from osgp.lon import netmgmt as nm
    from osgp.lon.apdu import decode_apdu
    from osgp.lon.cnip import CnipPacket, decode_datagram
    from osgp.lon.errors import DecodeError
    from osgp.lon.lpdu import LPDU, decode_lpdu
    from osgp.lon.npdu import NPDU
    from osgp.lon.tpdu import SPDU, TPDU, AuthPDU

    err = (DecodeError,)
    secret = bytes(range(16))
    cnip_packets = st.builds(
        CnipPacket,
        payload=st.binary(max_size=64),
        session=st.integers(0, 0xFFFFFFFF),
        sequence=st.integers(0, 0xFFFFFFFF),
        timestamp=st.integers(0, 0xFFFFFFFF),
    )

    def nm_response(data: bytes) -> object:
        # The request code is ours (what we sent), so it is always a valid NM/ND code.
        return nm.decode_response(0x50 + (data[0] % 0x30 if data else 0), data[1:])

    def nm_response_valid(pair: tuple[int, nm.NMResponse]) -> bytes:
        code, resp = pair
        return bytes([code - 0x50]) + resp.to_bytes()

    return [
        Target("lon.lpdu", decode_lpdu, err, ls.lpdus().map(LPDU.to_bytes)),
        Target("lon.lpdu-nocrc", lambda b: decode_lpdu(b, check_crc=False), err,
               ls.lpdus().map(LPDU.to_bytes)),
        Target("lon.npdu", NPDU.from_bytes, err, ls.npdus().map(NPDU.to_bytes)),
        Target("lon.tpdu", TPDU.from_bytes, err, ls.tpdus().map(lambda p: p.to_bytes())),
        Target("lon.tpdu-enhanced", lambda b: TPDU.from_bytes(b, enhanced=True), err,
               ls.tpdus(True).map(lambda p: p.to_bytes(enhanced=True))),
        Target("lon.spdu", SPDU.from_bytes, err, ls.spdus().map(lambda p: p.to_bytes())),
        Target("lon.authpdu", AuthPDU.from_bytes, err, ls.auth_pdus().map(lambda p: p.to_bytes())),
        Target("lon.apdu", decode_apdu, err, ls.apdus().map(lambda a: a.to_bytes())),
        Target("lon.netmgmt-request", nm.decode_request, err,
               ls.nm_requests.map(lambda r: r.to_bytes())),
        Target("lon.netmgmt-response", nm_response, err, ls.nm_responses.map(nm_response_valid)),
        Target("cnip.datagram", decode_datagram, err, cnip_packets.map(lambda p: p.to_bytes())),
        Target("cnip.datagram-secure", lambda b: decode_datagram(b, secret), err,
               cnip_packets.map(lambda p: replace(p, secure=True).to_bytes(secret))),
    ]  # fmt: skip


def _services() -> list[Target]:
    from osgp.app import services as sv
    from osgp.app.procedures import ProcedureRequest, ProcedureResponse
    from osgp.app.transactions import Transaction

    err = (sv.ServiceError,)
    requests = st.sampled_from(
        [
            sv.FullReadRequest(23),
            sv.PartialReadRequest(2052, 120, 8),
            sv.FullWriteRequest(2051, b"abcdef"),
            sv.PartialWriteRequest(5, 0, b"EVIL"),
            sv.LogonRequest(1, b"osgp".ljust(10)),
            sv.SecurityRequest(b"secret".ljust(20, b"\x00")),
            sv.NegotiateRequest(512, 2, (6,)),
            sv.WaitRequest(5),
            sv.IdentRequest(),
            sv.LogoffRequest(),
            sv.TerminateRequest(),
        ]
    )

    def response_to(data: bytes) -> object:
        req = sv.FullReadRequest(23) if not data or data[0] & 1 else sv.IdentRequest()
        return sv.decode_response(data[1:], req)

    return [
        Target("osgp.request", sv.decode_request, err, requests.map(lambda r: r.to_bytes())),
        Target("osgp.request-checksum", lambda b: sv.decode_request(b, checksum=True), err,
               requests.map(lambda r: r.to_bytes(checksum=True))),
        Target("osgp.response", response_to, err,
               st.sampled_from([b"\x01\x00\x00\x03abc", b"\x00\x00\x00\x01\x00\x00"])),
        Target("osgp.bt07-procedure", ProcedureRequest.from_bytes, err,
               st.binary(max_size=20).map(lambda p: ProcedureRequest(2068, 1, p[:16]).to_bytes())),
        Target("osgp.bt08-response", ProcedureResponse.from_bytes, err,
               st.binary(min_size=4, max_size=20)),
        Target("osgp.et52-transaction", Transaction.from_bytes, err,
               requests.map(lambda r: Transaction.requests(7, [r]).to_bytes())),
    ]  # fmt: skip


def _tables() -> list[Target]:
    from osgp.app.store import TableStore
    from osgp.app.tables.registry import all_tables, context_from_images
    from osgp.app.tables.schema import TableError

    store = TableStore.with_default_tables()
    images = {t: store.image(t) for t in store.table_ids()}
    ctx = context_from_images(images)
    out = []
    for table in all_tables():
        seed = images.get(table.id, b"")

        def decode(data: bytes, table: object = table) -> object:
            return table.decode(data, ctx)  # type: ignore[attr-defined]

        out.append(
            Target(f"table.{table.name}", decode, (TableError,), st.just(seed),
                   max_size=max(64, 2 * len(seed)))
        )  # fmt: skip
    return out


def _framings() -> list[Target]:
    from osgp.app.framing import FrameError, plc
    from osgp.app.framing import mep as mp
    from osgp.app.framing import optical as op
    from osgp.app.meter import MeterKeys, ServedMeter
    from osgp.security.digest import digest

    err = (FrameError,)
    key16, omak = bytes(range(16)), bytes(range(12))
    meter = ServedMeter(keys=MeterKeys(omak=omak, mak=key16, mk=b"mk", aes_psk=key16))
    spans = st.sampled_from([b"\x30\x00\x17", b"\x3f\x08\x04\x00\x00\x00\x00\x10", b"\x20"]).map(
        lambda c: c + bytes([0, 0, 0, 9])
    )
    plc_valid = spans.map(lambda s: b"\x3c" + s + digest(s, omak))
    mep_valid = spans.map(lambda s: s + digest(s, key16))
    optical_valid = st.sampled_from(
        [op.OpticalPacket(b"\x20").to_bytes(), op.OpticalPacket(b"\x30\x00\x17").to_bytes(),
         op.OpticalPacket(b"\x51" + bytes(20), control=0x20).to_bytes()]
    )  # fmt: skip

    def optical_session(data: bytes) -> object:
        # One connection's bytes, then a long silence: link timers and session timeout run too.
        server = meter.optical_session()
        server.receive_data(data, 0.0)
        server.data_to_send()
        server.handle_timer(100.0)
        return server.data_to_send()

    def optical_link(data: bytes) -> object:
        link = op.OpticalLink()
        events = link.receive_data(data, 0.0)
        link.handle_timer(10.0)
        return events

    def mep_session(data: bytes) -> object:
        server = meter.mep_session()
        server.receive_data(data, 0.0)
        server.handle_timer(5.0)
        return server.data_to_send(5.0)

    def plc_server(data: bytes) -> object:
        return meter.plc.handle_apdu(data, 0.0)

    return [
        Target("c12.18.packet", op.OpticalPacket.from_bytes, err, optical_valid),
        Target("c12.18.link-stream", optical_link, (), optical_valid),
        Target("c12.18.server-session", optical_session, (), optical_valid),
        Target("mep.frame", mp.decode_frame, err, mep_valid.map(mp.encode_frame)),
        Target("mep.request", mp.MepRequest.from_bytes, err, mep_valid),
        Target("mep.response", mp.MepResponse.from_bytes, err, mep_valid),
        Target("mep.server-session", mep_session, (), mep_valid.map(mp.encode_frame)),
        Target("plc.request", plc.PlcRequest.from_bytes, err, plc_valid),
        Target("plc.response", plc.PlcResponse.from_bytes, err, plc_valid),
        Target("plc.server", plc_server, (), plc_valid),
    ]


def _security() -> list[Target]:
    from osgp.security import aes
    from osgp.security.errors import SecurityError
    from osgp.security.rc4 import mep_open_request, mep_seal_request, plc_open, plc_seal
    from osgp.security.seqnum import invalid_sequence_reply, parse_invalid_sequence_reply

    key16, omak = bytes(range(16)), bytes(range(12))
    dev = bytes(6)
    err = (SecurityError,)
    plain = st.binary(min_size=1, max_size=40)

    def mep_open(b: bytes) -> object:
        return mep_open_request(b[:-8], b[-8:], key16)

    return [
        Target("security.0c-reply", parse_invalid_sequence_reply, err,
               st.integers(0, 0xFFFFFFFF).map(invalid_sequence_reply)),
        Target("security.aes-request", lambda b: aes.open_request(key16, dev, b), err,
               plain.map(lambda p: aes.seal_request(key16, dev, 5, p))),
        Target("security.mep-rc4", mep_open, err,
               plain.map(lambda p: (lambda s: s.wire + s.digest)(
                   mep_seal_request(p, key16, encrypt=True)))),
        Target("security.plc-rc4", lambda b: plc_open(b, omak), err,
               plain.map(lambda p: plc_seal(p, omak))),
    ]  # fmt: skip


def _pcap() -> list[Target]:
    from osgp.pcap import PcapError, iter_pcap, udp_frame

    def read(data: bytes) -> object:
        return list(iter_pcap(data))

    def parse(data: bytes) -> object:
        from osgp.pcap import parse_udp

        return parse_udp(data)

    frames = st.binary(max_size=40).map(
        lambda p: udp_frame(("10.0.0.1", 1628), ("10.0.0.2", 1628), p)
    )

    def pcap_bytes(payloads: list[bytes]) -> bytes:
        import io

        from osgp.clock import ManualClock
        from osgp.pcap import PcapWriter

        buf = io.BytesIO()
        writer = PcapWriter(buf, clock=ManualClock(1.5))
        for p in payloads:
            writer.write_frame(udp_frame(("10.0.0.1", 1628), ("10.0.0.2", 1628), p))
        return buf.getvalue()

    files = st.lists(st.binary(max_size=30), max_size=3).map(pcap_bytes)
    return [
        Target("pcap.file", read, (PcapError,), files),
        Target("pcap.udp-frame", parse, (PcapError,), frames),
    ]


def _headend() -> list[Target]:
    """The concentrator-to-head-end link (the head-end's REST API inputs come later)."""
    import json
    import struct

    from osgp.headend.link.protocol import ClientSession, LinkError, ServerSession

    def frame(msg: dict[str, object]) -> bytes:
        body = json.dumps(msg).encode()
        return struct.pack(">I", len(body)) + body

    # What a concentrator really sends first: its hello, from the client session itself.
    hello = ClientSession("dc-1", "token", bytes(16), 0.0).data_to_send()
    seeds = st.sampled_from(
        [hello, frame({"type": "ping"}), frame({"type": "auth", "proof": "00" * 32}),
         hello + frame({"type": "auth", "proof": "zz"}), frame({"type": "batch", "id": 1})]
    )  # fmt: skip

    def server(data: bytes) -> object:
        session = ServerSession(lambda cid: "token" if cid == "dc-1" else None, bytes(16), 0.0)
        events = session.receive_data(data, 0.0)
        session.handle_timer(1000.0)
        return events

    return [Target("headend.link-server", server, (LinkError,), seeds)]


def _selftest() -> list[Target]:
    """A decoder with a planted bug (an IndexError on a 0x01 first byte), to prove that the
    harness finds and records crashes. Only present with OSGP_FUZZ_SELFTEST=1."""

    def broken(data: bytes) -> object:
        if data[:1] == b"\x01":
            return data[len(data) + 1 - 1 + 1]
        return None

    return [Target("selftest.planted-bug", broken, (ValueError,), st.just(b"\x00\x01"))]


@cache
def all_targets() -> tuple[Target, ...]:
    extra = _selftest() if os.environ.get("OSGP_FUZZ_SELFTEST") == "1" else []
    return tuple(
        _lon() + _services() + _tables() + _framings() + _security() + _pcap() + _headend() + extra
    )


def by_name(name: str) -> Target:
    for t in all_targets():
        if t.name == name:
            return t
    raise KeyError(name)
