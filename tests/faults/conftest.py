"""The fault table: every fault test adds its row; the session prints the table at the end."""

from __future__ import annotations

from typing import Any

import pytest

from osgp.faults.ledger import FaultRow, format_table

ROWS: list[FaultRow] = []


@pytest.fixture
def record() -> Any:
    def add(row: FaultRow) -> FaultRow:
        ROWS.append(row)
        return row

    return add


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if ROWS:
        terminalreporter.section("faults injected (osgp.faults)")
        terminalreporter.write_line(format_table(ROWS))
