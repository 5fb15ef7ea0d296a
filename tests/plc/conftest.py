"""Fixtures shared by the PLC simulator tests: the shipped grids are loaded once per session."""

from __future__ import annotations

import pytest

from osgp.plc.topology import Segment, load_segment


@pytest.fixture(scope="session")
def rural3() -> Segment:
    return load_segment("simbench:1-LV-rural3--0-sw")


@pytest.fixture(scope="session")
def schutterwald47() -> Segment:
    return load_segment("pandapower:lv_schutterwald", "T_idx_47")
