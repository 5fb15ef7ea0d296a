"""Authenticated OSGP request/response round trips per second, in memory, over the PLC framing.

A data-concentrator client (:class:`osgp.app.framing.plc.PlcClient`) reads BT01 from a served
meter (:class:`osgp.app.meter.ServedMeter`: default table store, table server with access rules)
through :class:`osgp.app.framing.plc.PlcServer`: build and seal the request, open and check it
(digest or CCM tag, sequence window), serve the table, seal the response, open and check it on
the client. Modes: digest only (legacy, ET04.12 bit 3), digest + RC4 (legacy), OSGP-AES-128-PSK.

Baseline, measured in the same run: the same request and response through the same table server
without any security (``code ‖ C12 request`` in, ``code ‖ C12 response`` out). The ratio says
what the security wrapping costs on top of serving the table.

The MEP port's modes (digest, RC4, AES, TLS after the handshake) are measured the same way.

Run: ``.venv/bin/python benchmarks/bench_app.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from osgp.app.framing.mep import encode_frame as encode
from osgp.app.framing.plc import OSGP_APDU_CODE, PlcClient, PlcReply, SecurityMode
from osgp.app.meter import ET04, ET04_SECURITY_MODE, MeterKeys, ServedMeter

READ_BT01 = bytes.fromhex("300001")
OMAK = bytes(range(1, 13))
PSK = bytes(range(16))
MAK = bytes(range(16, 32))
DC_ID = bytes.fromhex("0a0b0c0d0e0f")


def _rate(fn: Callable[[], None], seconds: float = 1.0) -> float:
    """Calls per second of ``fn`` over about ``seconds`` (best of three slices)."""
    fn()  # warm caches (key schedules, RC4 derivation)
    best = 0.0
    for _ in range(3):
        n = 0
        t0 = time.perf_counter()
        end = t0 + seconds / 3
        while True:
            for _ in range(50):
                fn()
            n += 50
            now = time.perf_counter()
            if now >= end:
                break
        best = max(best, n / (now - t0))
    return best


def _meter(mode: SecurityMode) -> ServedMeter:
    meter = ServedMeter(keys=MeterKeys(omak=OMAK, aes_psk=PSK))
    meter.store.patch(ET04, ET04_SECURITY_MODE, bytes([mode]))
    return meter


def _plc_round_trip(mode: SecurityMode, encrypt: bool) -> Callable[[], None]:
    meter = _meter(mode)
    client = PlcClient(
        OMAK,
        mode=mode,
        encrypt=encrypt,
        aes_key=PSK if mode == SecurityMode.AES else None,
        device_id=meter.device_id,
        own_id=DC_ID,
        sequence=meter.plc_sequence.current,
    )
    clock = [0.0]

    def once() -> None:
        clock[0] += 0.001
        reply = client.receive(
            meter.plc.handle_apdu(client.request(READ_BT01), clock[0], sender_id=DC_ID)
        )
        if not isinstance(reply, PlcReply) or reply.response[0] != 0:
            raise RuntimeError(f"round trip failed: {reply}")

    return once


def _mep_round_trip(kind: str) -> Callable[[], None]:
    """One MEP request/response through ``MepServer.handle_body`` (no framing timers)."""
    from osgp.app.framing.mep import MepClient, MepReply, MepServer, MepTlsClient

    meter = ServedMeter(keys=MeterKeys(mak=MAK))
    server: MepServer = meter.mep_session()
    server.config.sequence_check = None  # the client below keeps its own numbers in step
    clock = [0.0]
    if kind == "tls":
        tls = MepTlsClient(MAK)
        tls.handshake(0.0)
        while not tls.established:
            for body in tls.deframer.feed(tls.data_to_send(), 0.0):
                tls.receive_data(encode(server.handle_body(body, 0.0)), 0.0)

        def once_tls() -> None:
            clock[0] += 0.001
            tls.request(READ_BT01, clock[0])
            (body,) = tls.deframer.feed(tls.data_to_send(), clock[0])
            (reply,) = tls.receive_data(encode(server.handle_body(body, clock[0])), clock[0])
            if not isinstance(reply, MepReply):
                raise RuntimeError(f"round trip failed: {reply}")

        return once_tls
    client = MepClient(MAK, encrypt=kind == "rc4", aes=kind == "aes", device_id=meter.device_id)

    def once() -> None:
        clock[0] += 0.001
        client.request(READ_BT01, clock[0])
        (body,) = client.deframer.feed(client.data_to_send(), clock[0])
        (reply,) = client.receive_data(encode(server.handle_body(body, clock[0])), clock[0])
        if not isinstance(reply, MepReply):
            raise RuntimeError(f"round trip failed: {reply}")

    return once


def _baseline() -> Callable[[], None]:
    meter = _meter(SecurityMode.RC4)
    clock = [0.0]
    apdu = bytes([OSGP_APDU_CODE]) + READ_BT01

    def once() -> None:
        clock[0] += 0.001
        resp = bytes([apdu[0]]) + meter.server.handle_c12(apdu[1:], "OMAK", clock[0])
        if resp[1] != 0:
            raise RuntimeError("baseline read failed")

    return once


def run() -> dict[str, float]:
    base = _rate(_baseline())
    out: dict[str, float] = {"baseline_unauthenticated_rt_per_s": base}
    for name, mode, encrypt in (
        ("digest_only", SecurityMode.RC4, False),
        ("digest_rc4", SecurityMode.RC4, True),
        ("aes_ccm", SecurityMode.AES, True),
    ):
        rate = _rate(_plc_round_trip(mode, encrypt))
        out[f"{name}_rt_per_s"] = rate
        out[f"{name}_ratio_to_baseline"] = rate / base
    for kind in ("digest", "rc4", "aes", "tls"):
        rate = _rate(_mep_round_trip(kind))
        out[f"mep_{kind}_rt_per_s"] = rate
        out[f"mep_{kind}_ratio_to_baseline"] = rate / base
    return out


def main() -> None:
    figures = run()
    base = figures["baseline_unauthenticated_rt_per_s"]
    print("OSGP PLC framing, in-memory request/response round trips (read BT01, 32 bytes)")
    print(f"  {'baseline (no security, same table server)':46s} {base:10,.0f} /s   1.00x")
    for name, label in (
        ("digest_only", "digest only (legacy, encryption off)"),
        ("digest_rc4", "digest + RC4 (legacy)"),
        ("aes_ccm", "OSGP-AES-128-PSK (AES-CCM, our choice 4)"),
    ):
        rate = figures[f"{name}_rt_per_s"]
        print(f"  {label:46s} {rate:10,.0f} /s   {rate / base:.2f}x")
    print("MEP port, same request, MepServer.handle_body (no segment timing)")
    for kind, label in (
        ("digest", "digest only"),
        ("rc4", "digest + RC4 (Appendix B)"),
        ("aes", "OSGP-AES-128-PSK (our choice 18)"),
        ("tls", "TLS 1.2 PSK AES-256-GCM, per request"),
    ):
        rate = figures[f"mep_{kind}_rt_per_s"]
        print(f"  {label:46s} {rate:10,.0f} /s   {rate / base:.2f}x")


if __name__ == "__main__":
    main()
