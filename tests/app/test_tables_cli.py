"""``osgp tables``: list, show and decode without a meter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from osgp.cli import main


def test_list_shows_every_required_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tables", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("BT00", "BT23", "BT64", "BT74", "ET03", "ET09", "ET55", "ET81"):
        assert f"\n{name} " in out
    assert "ET03     2051    143" in out


def test_show_json_and_pending(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tables", "show", "BT01", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["fields"]["manufacturer"] == "OSGP" and doc["size"] == 32
    assert main(["tables", "show", "BT4150", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("BT4150 Pending BT54 Calendar") and "ped.ped_flags" in out


def test_negative_limit_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["tables", "show", "BT23", "--limit", "-1"])
    assert exit_info.value.code == 2
    assert "must be 0 or more, got -1" in capsys.readouterr().err


def test_hex_is_read_as_osgp_decode_reads_it(capsys: pytest.CaptureFixture[str]) -> None:
    """Colons, dashes and 0x prefixes, as ``osgp decode`` takes them (was: spaces only)."""
    for spelling in ("02:00:00:3c:c4:ff", "02-00-00-3C-C4-FF", "0x0200003cc4ff"):
        assert main(["tables", "decode", "BT53", spelling]) == 0
        assert "-60" in capsys.readouterr().out


def test_decode_reports_short_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tables", "decode", "BT53", "020000 3c c4ff"]) == 0
    assert "-60" in capsys.readouterr().out
    assert main(["tables", "decode", "BT53", "0200003c"]) == 2
    assert "time_zone_offset" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["show", "BT999"], "no declaration for table BT999"),
        (["show", "XYZ"], "not a table name or number: 'XYZ'"),
        (["decode", "BT23", "zz"], "HEX is not hex (not a hex digit: 'z')"),
        (["decode", "BT23", "00", "--with", "BT21=zz"], "--with BT21 is not hex"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["tables", *argv]) == 2
    assert message in capsys.readouterr().err


def test_output_piped_into_head_is_not_an_error() -> None:
    """``osgp tables show BT26 | head -1``: the reader stops early; no traceback, status 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "osgp", "tables", "show", "BT26"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"BT26")
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "BrokenPipeError" not in err
