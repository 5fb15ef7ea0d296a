"""Each injected fault, counted against the simulation's ground truth: after recovery every
reading the meters produced is stored at the head-end once (lost 0, duplicated 0).

Real processes and services are broken here: a concentrator process and a head-end process are
SIGKILLed, a private PostgreSQL cluster is crash-stopped, a private mosquitto is SIGKILLed. A
missing tool (initdb, mosquitto) makes the test FAIL with a message, never skip.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from osgp.faults import scenarios
from osgp.faults.ledger import FaultRow

pytestmark = pytest.mark.timeout(120)


def _check(row: FaultRow) -> None:
    assert row.expected > 0
    assert row.lost == 0, row
    assert row.duplicated == 0, row
    assert row.stored == row.expected, row


def _run(
    fn: Callable[[Path], FaultRow], tmp_path: Path, record: Callable[[FaultRow], FaultRow]
) -> None:
    _check(record(fn(tmp_path)))


def test_concentrator_killed_mid_collection(
    tmp_path: Path, record: Callable[[FaultRow], FaultRow]
) -> None:
    _run(scenarios.concentrator_killed, tmp_path, record)


def test_headend_killed_mid_upload(tmp_path: Path, record: Callable[[FaultRow], FaultRow]) -> None:
    _run(scenarios.headend_killed, tmp_path, record)


def test_postgresql_restarted_mid_upload(
    tmp_path: Path, record: Callable[[FaultRow], FaultRow]
) -> None:
    _run(scenarios.postgres_restarted, tmp_path, record)


def test_mqtt_broker_restarted(tmp_path: Path, record: Callable[[FaultRow], FaultRow]) -> None:
    _run(scenarios.mqtt_restarted, tmp_path, record)


def test_link_cut_for_an_hour(tmp_path: Path, record: Callable[[FaultRow], FaultRow]) -> None:
    _run(scenarios.link_cut_one_hour, tmp_path, record)


def test_meter_loses_power_mid_transaction(
    tmp_path: Path, record: Callable[[FaultRow], FaultRow]
) -> None:
    _run(scenarios.meter_power_loss, tmp_path, record)


def test_clock_jumps(tmp_path: Path, record: Callable[[FaultRow], FaultRow]) -> None:
    _run(scenarios.clock_jump, tmp_path, record)
