"""Conformance: termineter 1.0.6 (a third-party C12.18/C12.19 client) against ``osgp meter serve``.

The meter runs as a subprocess on ``tcp://127.0.0.1:0``; termineter reaches it with its pySerial
URL ``socket://127.0.0.1:PORT``. It is driven twice: through its Python API (``c1218``) and
through its console with ``$HOME/.termineter/console.rc`` (a temporary HOME), logging on with the
read-only key (RK). Every value it prints is compared with the meter's default table store.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from osgp.app.store import TableStore
from osgp.app.tables import default_context, get_table
from osgp.security.keys import DEFAULT_POLICY, AccessLevel


def _rk_readable(store: TableStore, limit: int) -> set[int]:
    """The store's tables up to ``limit`` that the RK may read (BT04 is MK/PK only)."""
    return {
        t for t in store.table_ids() if t <= limit and DEFAULT_POLICY.can_read(AccessLevel.RK, t)
    }


RK = "read-only-key"
#: Largest response termineter's negotiation (2 packets of 512 bytes) admits.
FITS = 2 * (512 - 8)
MK = "master-key-0001"
OSGP = [sys.executable, "-m", "osgp"]
TERMINETER = str(Path(sys.executable).with_name("termineter"))


def start_meter(*extra: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [*OSGP, "meter", "serve", "--optical", "tcp://127.0.0.1:0", "--rk", RK, "--mk", MK, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.match(r"optical tcp://127\.0\.0\.1:(\d+)", line)
    if not m:
        proc.kill()
        raise AssertionError(
            f"meter did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        )
    return proc, int(m.group(1))


@pytest.fixture(scope="module")
def meter() -> Iterator[int]:
    proc, port = start_meter()
    yield port
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def store() -> TableStore:
    """The same default meter the subprocess serves (its images are deterministic)."""
    return TableStore.with_default_tables()


def test_python_api_logs_on_with_rk_and_reads_store_values(meter: int, store: TableStore) -> None:
    from c1218.connection import Connection
    from c1218.errors import C1218ReadTableError

    conn = Connection(f"socket://127.0.0.1:{meter}", enable_cache=False)
    try:
        assert conn.start()
        assert conn.login("0000", 0, RK)
        assert bytes(conn.get_table_data(1)) == store.image(1)
        assert bytes(conn.get_table_data(23)) == store.image(23)  # multi-packet response
        assert bytes(conn.get_table_data(2051)) == store.image(2051)  # ET03
        assert bytes(conn.get_table_data(0, octetcount=4, offset=0)) == store.image(0)[:4]
        # BT26 does not fit the negotiated size: rno (0x09); partial reads get all of it
        with pytest.raises(C1218ReadTableError) as err:
            conn.get_table_data(26)
        assert err.value.code == 9
        size = store.size(26)
        parts = [
            bytes(conn.get_table_data(26, octetcount=min(900, size - off), offset=off))
            for off in range(0, size, 900)
        ]
        assert b"".join(parts) == store.image(26)
        assert conn.stop()
    finally:
        conn.close()


def _hexdumps(text: str) -> list[bytes]:
    """The data of every ``print_hexdump`` block in termineter's output, in order."""
    dumps: list[bytes] = []
    current: bytearray | None = None
    for line in text.splitlines():
        m = re.match(r"^([0-9a-f]{4})    ((?:[0-9a-f]{2}  ?)+)", line)
        if m:
            if m.group(1) == "0000":
                current = bytearray()
                dumps.append(current)  # type: ignore[arg-type]
            assert current is not None
            current += bytes.fromhex(m.group(2).replace(" ", ""))
    return [bytes(d) for d in dumps]


def test_console_modules_print_the_store_values(
    meter: int, store: TableStore, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    (home / ".termineter").mkdir(parents=True)
    dump = tmp_path / "dump.csv"
    rc = f"""\
set SERIAL_CONNECTION socket://127.0.0.1:{meter}
set PASSWORD_HEX False
set PASSWORD {RK}
connect
run get_identification
run get_info
use read_table
set TABLE_ID 1
run
set TABLE_ID 23
run
set TABLE_ID 2051
run
back
use enum_tables
set LOWER 0
set UPPER 8
run
back
use dump_tables
set LOWER 0
set UPPER 60
set FILE {dump}
run
back
use run_procedure
set PROC_NUMBER 16
set PARAMS 00000000
set STD_VS_MFG True
run
exit
"""
    (home / ".termineter" / "console.rc").write_text(rc)
    env = {**os.environ, "HOME": str(home)}
    out = subprocess.run(
        [TERMINETER],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    ).stdout
    assert "Traceback" not in out, out
    assert "[-]" not in out, out  # termineter prints errors with [-]

    # get_identification: our ident answer 00 00 01 00 00
    assert "Reference Standard  ANSI C12.18" in out
    assert "Standard Version    1.0" in out

    # get_info: decoded from BT01 (and BT05) the same way the table engine decodes them
    ctx = default_context()
    bt01 = get_table("BT01").decode(store.image(1), ctx)
    info = dict(re.findall(r"\[\*\]     ([A-Za-z0-9. ]+?)\.+\.(.*)", out))
    assert info["Manufacturer"] == bt01["manufacturer"]
    assert info["Model"] == bt01["ed_model"]
    assert info["Serial Number"] == bt01["mfg_serial_no"]
    assert info["Hardware Version"] == f"{bt01['hw_version_number']}.{bt01['hw_revision_number']}"
    assert info["Firmware Version"] == f"{bt01['fw_version_number']}.{bt01['fw_revision_number']}"
    assert info["Device ID"] == store.image(5).decode().strip()

    # read_table BT01, BT23, ET03 (2051): the hexdumps after the ident dump
    dumps = _hexdumps(out)
    assert dumps[0] == bytes([0, 0, 1, 0, 0])
    assert dumps[1:4] == [store.image(1), store.image(23), store.image(2051)]

    # enum_tables 0..8: exactly the tables the store holds there that the RK may read
    enum = out[out.index("Enumerating tables") : out.index("tables in range 0-8")]
    found = {int(x) for x in re.findall(r"Found readable table, ID: (\d+)", enum)}
    assert found == _rk_readable(store, 8)

    # dump_tables 0..60: every table of the store in range, byte for byte (BT52 is the live clock)
    # (a table too big for the 2 x 512-byte packets termineter negotiates gets "rno", C12.18's
    # renegotiate request, and termineter skips it: BT26 here)
    rows = {int(r[0]): r for r in csv.reader(dump.read_text().splitlines())}
    assert set(rows) == {t for t in _rk_readable(store, 60) if store.size(t) + 4 <= FITS}
    for tid, (_, _, length, data) in rows.items():
        assert int(length) == store.size(tid)
        if tid not in (7, 8, 52, 55):  # BT07/BT08 change with procedures, BT52/55 are clocks
            assert bytes.fromhex(data) == store.image(tid), tid

    # run_procedure EP16 (RK may adjust the clock, ET04.71 bit 0 = 0) with a zero delta
    assert "Received response from procedure: Procedure completed" in out


def test_wrong_key_gets_0x0b_then_lockout_and_no_table_changes(store: TableStore) -> None:
    from c1218.connection import Connection
    from c1218.data import C1218SecurityRequest

    proc, port = start_meter("--optical-lockout", "3,1")
    try:
        conn = Connection(f"socket://127.0.0.1:{port}", enable_cache=False)
        assert conn.start()
        for attempt in range(4):
            assert conn.login("0000", 0) is True  # logon alone (no password) is allowed
            conn.send(C1218SecurityRequest("not-the-key" if attempt < 3 else RK))
            assert bytes(conn.recv()) == b"\x0b", attempt  # the fourth: right key, locked out
            # without a key the session has open access: writing ET03 is refused
            with pytest.raises(Exception, match="isc"):
                conn.set_table_data(2051, b"HACKED", offset=0)
            assert bytes(conn.get_table_data(2051)) == store.image(2051)
            conn.logoff()
        conn.stop()
        conn.close()
        # a new connection is still locked out (the counter is the meter's, not the session's)
        conn = Connection(f"socket://127.0.0.1:{port}", enable_cache=False)
        assert conn.start()
        assert conn.login("0000", 0, MK) is False
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_termineter_retries_through_the_gen2_first_packet_nak(store: TableStore) -> None:
    from c1218.connection import Connection

    proc, port = start_meter("--optical-nak-first")
    try:
        for _ in range(2):  # every new session starts with a NAK
            conn = Connection(f"socket://127.0.0.1:{port}", enable_cache=False)
            assert conn.start()
            assert conn.login("0000", 0, RK)
            assert bytes(conn.get_table_data(1)) == store.image(1)
            assert conn.stop()
            conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
