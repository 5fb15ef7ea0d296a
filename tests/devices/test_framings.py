"""Every framing serves the simulated meter: the same BT23 over MEP and over PLC (14908 APDUs),
equal to the model at that instant."""

from __future__ import annotations

from collections.abc import Callable

from tests.devices.helpers import START

from osgp.app.client import read_request
from osgp.app.framing.mep import MepClient, MepFailed, MepReply
from osgp.app.framing.plc import PlcClient, PlcFailed, PlcReply, PlcResend
from osgp.app.meter import MeterKeys
from osgp.devices.binding import serve_meter
from osgp.devices.fleet import Fleet

MAK = bytes(range(16))
OMAK = bytes(range(100, 112))


def _data(c12_response: bytes) -> bytes:
    assert c12_response[0] == 0, c12_response[:1]
    n = int.from_bytes(c12_response[1:3], "big")
    return c12_response[3 : 3 + n]


def test_mep_and_plc_read_the_living_registers(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet("none")
    served, _sim = serve_meter(fleet, 7, keys=MeterKeys(mak=MAK, omak=OMAK))
    c12 = read_request(23, 0, 33).to_bytes()  # demand resets + 8 summations

    now = START + 5 * 3600
    mep = MepClient(MAK)
    mep.request(c12, now)
    session = served.mep_session(inter_byte_timeout=None)
    reply: MepReply | None = None
    for _ in range(3):
        session.receive_data(mep.data_to_send(), now)
        for ev in mep.receive_data(session.data_to_send(now + 0.1), now + 0.1):
            assert not isinstance(ev, MepFailed), ev
            if isinstance(ev, MepReply):
                reply = ev
        if reply:
            break
    assert reply is not None
    by_mep = _data(reply.response)
    expected = served.store.image(23)[:33]
    assert by_mep == expected
    assert int.from_bytes(by_mep[1:5], "little") == int(fleet.registers(7)[0]) > 0

    later = now + 3600
    plc = PlcClient(OMAK)
    apdu = plc.request(c12)
    result = None
    for _ in range(3):
        ev = plc.receive(served.plc.handle_apdu(apdu, later))
        assert not isinstance(ev, PlcFailed), ev
        if isinstance(ev, PlcResend):
            apdu = ev.apdu
            continue
        result = ev
        break
    assert isinstance(result, PlcReply)
    by_plc = _data(result.response)
    assert by_plc == served.store.image(23)[:33]
    assert int.from_bytes(by_plc[1:5], "little") == int(fleet.registers(7)[0])
    assert by_plc != by_mep  # an hour later the meter has counted on
