"""The ledger counts what a user would call lost and duplicated, and the table shows it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy.orm import Session

from osgp.faults.ledger import FaultRow, Ledger, format_table
from osgp.headend.db import models as hm
from osgp.headend.db.session import make_engine, upgrade


def test_a_missing_and_a_repeated_reading_are_counted(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/h.db")
    upgrade(engine)
    t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with Session(engine) as s, s.begin():
        s.add(hm.Device(id="aa"))
        s.add(hm.Device(id="bb"))
        s.add(hm.RegisterRead(device_id="aa", register="energy_import_wh", read_at=t, value=1))
        s.add(hm.RegisterRead(device_id="aa", register="energy_export_wh", read_at=t, value=0))
        # the same period read twice under another timestamp: a duplicate the unique key misses
        s.add(hm.RegisterRead(device_id="aa", register="energy_export_wh",
                              read_at=t + dt.timedelta(seconds=5), value=0))  # fmt: skip
        s.add(hm.RegisterRead(device_id="bb", register="energy_import_wh", read_at=t, value=2))
    led = Ledger()
    led.expect(["aa", "bb"])
    row = led.compare("test", engine)
    assert (row.expected, row.stored, row.lost, row.duplicated) == (4, 3, 1, 1)
    assert not row.clean
    engine.dispose()


def test_the_table_has_one_line_per_fault() -> None:
    text = format_table([FaultRow("link cut", 60, 60, 0, 0, "ok"), FaultRow("x", 2, 1, 1, 0)])
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["fault", "injected"] and len(lines) == 4
    assert lines[2].split()[:5] == ["link", "cut", "60", "60", "0"]
