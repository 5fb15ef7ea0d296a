"""termineter 1.0.6 (a third-party C12.18 client) reads a simulated meter over the optical port:
in process on a frozen clock (values equal the model at that instant) and through
``osgp meter serve --simulate`` (a living meter whose registers move between two reads)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from tests.devices.helpers import GRID, START

from osgp.app.io import start_tcp_server
from osgp.app.meter import MeterKeys
from osgp.app.tables import get_table
from osgp.clock import ManualClock
from osgp.devices.binding import serve_meter
from osgp.devices.fleet import Fleet

RK = "read-only-key"


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    thread = threading.Thread(target=lp.run_forever, daemon=True)
    thread.start()
    yield lp
    lp.call_soon_threadsafe(lp.stop)
    thread.join(timeout=5)


def test_termineter_reads_bt23_and_bt28_equal_to_the_model(
    make_fleet: Callable[..., Fleet], loop: asyncio.AbstractEventLoop
) -> None:
    from c1218.connection import Connection

    fleet = make_fleet("full")
    i = next(j for j, d in enumerate(fleet.definitions) if d.pv_kwp > 0)
    served, sim = serve_meter(fleet, i, keys=MeterKeys(rk=RK.encode()))
    clock = ManualClock(START + 13 * 3600 + 437)  # frozen: the instant termineter reads
    server = asyncio.run_coroutine_threadsafe(
        start_tcp_server("127.0.0.1", 0, served.optical_session, clock), loop
    ).result(10)
    port = server.sockets[0].getsockname()[1]
    try:
        conn = Connection(f"socket://127.0.0.1:{port}", enable_cache=False)
        assert conn.start()
        assert conn.login("0000", 0, RK)
        bt23 = bytes(conn.get_table_data(23))
        bt28 = bytes(conn.get_table_data(28))
        conn.stop()
        conn.close()
    finally:
        loop.call_soon_threadsafe(server.close)
    assert fleet.t == clock.now()
    regs = get_table("BT23").decode(bt23, sim.ctx)["tot_data_block"]["summations"]
    model = fleet.registers(i)
    assert regs[:8] == [int(x) for x in model[:8]]
    assert regs[0] > 0 and regs[1] > 0  # consumption overnight, export at noon
    pv = get_table("BT28").decode(bt28, sim.ctx)["present_values"]
    assert pv[1] == int(-fleet.p_kw[i] * 1000) > 0  # exporting at 13:07 in June
    d = fleet.definitions[i]
    p = d.phase - 1 if d.phases == 1 else 0
    assert pv[7 + p] == int(fleet.volts[i, p] * 1000)
    assert abs(pv[7 + p] - fleet.grid.net.res_bus.vm_pu[d.bus] * 400 / 3**0.5 * 1000) <= 1  # type: ignore[union-attr]
    assert pv[11] == int(fleet.frequency * 1000)


def _read(port: int, table: int) -> bytes:
    from c1218.connection import Connection

    conn = Connection(f"socket://127.0.0.1:{port}", enable_cache=False)
    try:
        assert conn.start()
        assert conn.login("0000", 0, RK)
        data = bytes(conn.get_table_data(table))
        conn.stop()
        return data
    finally:
        conn.close()


def test_osgp_meter_serve_simulate_serves_a_living_meter() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "osgp",
            "meter",
            "serve",
            "--optical",
            "tcp://127.0.0.1:0",
            "--rk",
            RK,
            "--simulate",
            GRID,
            "--sim-meter",
            "m0012",
            "--speed",
            "3600",
            "--power-flow",
            "none",
            "--duration",
            "120",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        m = re.match(r"optical tcp://127\.0\.0\.1:(\d+)", line)
        assert m, (line, proc.stderr.read() if proc.poll() is not None else "")
        port = int(m.group(1))
        first = _read(port, 23)
        time.sleep(1.5)  # 1.5 simulated hours
        second = _read(port, 23)
        fwd = [int.from_bytes(b[1:5], "little", signed=True) for b in (first, second)]
        assert fwd[1] - fwd[0] > 1000, fwd  # an agricultural load: kWh per hour
        bt28 = _read(port, 28)
        volts = int.from_bytes(bt28[28:32], "little", signed=True)  # present value 7: V L1
        assert 225_000 < volts < 236_000
    finally:
        proc.terminate()
        proc.wait(timeout=10)
