"""``osgp headend`` sub-commands a user runs before serving."""

from __future__ import annotations

from pathlib import Path

import pytest

from osgp.cli import main
from osgp.headend.service import parse_listen


def test_db_upgrade_concentrator_and_apikey(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/he.db"
    assert main(["headend", "db", "current", "--db", url]) == 0
    assert capsys.readouterr().out.strip() == "empty (never migrated)"
    assert main(["headend", "db", "upgrade", "--db", url]) == 0
    assert capsys.readouterr().out.strip().endswith("empty -> 0001")
    assert main(["headend", "concentrator", "dc-9", "--token", "t" * 20, "--db", url]) == 0
    assert capsys.readouterr().out.strip() == "t" * 20
    assert main(["headend", "apikey", "ops", "--role", "operator", "--db", url]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("osgp_") and len(key) > 30
    assert main(["headend", "apikey", "ops", "--db", url]) == 1
    assert "exists" in capsys.readouterr().err


def test_listen_addresses() -> None:
    assert parse_listen("0.0.0.0:9000", 8080) == ("0.0.0.0", 9000)
    assert parse_listen(":9000", 8080) == ("127.0.0.1", 9000)
    assert parse_listen("localhost", 8080) == ("localhost", 8080)
    with pytest.raises(ValueError, match="port 'x' is not a number"):
        parse_listen("h:x", 1)
