"""Shared fixtures: the small simbench grid (loaded once: simbench parses CSVs for seconds)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from tests.devices.helpers import GRID, START

from osgp.devices.fleet import Fleet, FleetConfig, PowerFlow
from osgp.devices.grid import Grid, load_simbench
from osgp.devices.profiles import ProfileLibrary


@pytest.fixture(scope="session")
def base_net() -> Any:
    return load_simbench(GRID)


@pytest.fixture(scope="session")
def library(base_net: Any) -> ProfileLibrary:
    return ProfileLibrary.from_simbench_profiles(base_net.profiles)


@pytest.fixture
def make_fleet(base_net: Any, library: ProfileLibrary) -> Callable[..., Fleet]:
    def make(power_flow: PowerFlow = "linear", **config: Any) -> Fleet:
        grid = Grid(copy.deepcopy(base_net), name=GRID)
        return Fleet.on_grid(
            grid, library, FleetConfig(start=START, power_flow=power_flow, **config)
        )

    return make
