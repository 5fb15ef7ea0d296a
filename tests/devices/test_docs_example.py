"""The "declare your own device" example of docs/devices.md runs and serves its table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.devices.helpers import client

from osgp.clock import ManualClock

DOC = Path(__file__).resolve().parents[2] / "docs" / "devices.md"


def test_the_pump_example_in_the_docs_works() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    pump = next(b for b in blocks if "class Pump" in b)
    scope: dict[str, Any] = {}
    exec(compile(pump, str(DOC), "exec"), scope)
    served, table = scope["served"], scope["ET220"]
    clock = ManualClock(0.0)
    c = client(served.server.handle, clock)
    assert c.run_procedure(2048 + 220, b"\x01").result == 0
    clock.advance(100)
    assert table.decode(c.read(table.id)) == {"running": 1, "run_seconds": 100}
    assert c.run_procedure(2048 + 220, b"\x00").result == 0
    clock.advance(50)
    assert table.decode(c.read(table.id))["run_seconds"] == 100
