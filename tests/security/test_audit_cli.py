"""``osgp audit``: findings for weak settings, the key recovery demonstration, JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from osgp.app.meter import ET04, ET54, ET55, MeterKeys, ServedMeter
from osgp.audit.checks import Severity, check_meter, view_of_served_meter
from osgp.cli import main
from osgp.security.keys import MEP_DEFAULT_KEY


def checks_of(meter: ServedMeter) -> dict[str, Severity]:
    return {f.check: f.severity for f in check_meter(view_of_served_meter(meter, "m"))}


def strong_meter() -> ServedMeter:
    meter = ServedMeter(
        keys=MeterKeys(omak=os.urandom(12), mak=os.urandom(16), aes_psk=os.urandom(16)),
        mep_require_aes=True,
    )
    meter.store.patch(ET04, 127, b"\x02")
    meter.store.patch(ET04, 52, b"\x01")
    return meter


def test_a_well_configured_meter_has_no_findings() -> None:
    assert checks_of(strong_meter()) == {}


@pytest.mark.parametrize(
    ("table", "offset", "value", "check", "severity"),
    [
        (ET04, 127, b"\x00", "security-mode", Severity.HIGH),
        (ET04, 12, b"\x08", "encryption-off", Severity.LOW),  # in AES mode
        (ET55, 20, b"\x00", "lockout-off", Severity.HIGH),
        (ET55, 22, b"\x00", "lockout-off", Severity.MEDIUM),
        (ET54, 82, (900_000).to_bytes(4, "little"), "key-usage", Severity.MEDIUM),
        (ET04, 123, bytes(4), "key-usage", Severity.LOW),
        (ET04, 52, b"\x00", "pk-enabled", Severity.LOW),
    ],
)
def test_each_weak_setting_is_reported(
    table: int, offset: int, value: bytes, check: str, severity: Severity
) -> None:
    meter = strong_meter()
    meter.store.patch(table, offset, value)
    found = checks_of(meter)
    found.pop("lockout-bypass", None)  # the INFO note that comes with RC4 mode
    assert found == {check: severity}


def test_encryption_off_in_rc4_mode_is_high() -> None:
    meter = strong_meter()
    meter.store.patch(ET04, 127, b"\x00")
    meter.store.patch(ET04, 12, b"\x08")
    assert checks_of(meter)["encryption-off"] == Severity.HIGH


def test_default_keys_are_critical() -> None:
    meter = ServedMeter(keys=MeterKeys(mak=MEP_DEFAULT_KEY, mk=b"unique-mk"))
    found = check_meter(view_of_served_meter(meter, "m"))
    defaults = sorted(f.title for f in found if f.check == "default-key")
    assert defaults == ["default MAK in use", "default OMAK in use"]
    assert all(f.severity == Severity.CRITICAL for f in found if f.check == "default-key")
    assert {f.check for f in found} >= {"security-mode", "mep-legacy"}


def test_cli_recovers_the_rc4_key_and_fails_against_aes(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["audit", "sim:rc4", "sim:aes", "--recover-key", "--seed", "4", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 1  # high findings
    rc4, aes = doc["key_recovery"]
    assert rc4["recovered"] and rc4["key_matches_meter"] and rc4["queries"] < 200
    assert not aes["recovered"] and aes["key"] is None and aes["bits_learned"] == 0
    checks = {(f["meter"], f["check"]) for f in doc["findings"]}
    assert ("sim:rc4", "key-recovered") in checks and ("sim:rc4", "security-mode") in checks
    assert not any(m == "sim:aes" and c in ("key-recovered", "security-mode") for m, c in checks)


def test_cli_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "sim:rc4", "--recover-key", "--seed", "9"]) == 1
    out = capsys.readouterr().out
    assert "KEY RECOVERED on the PLC port of sim:rc4" in out
    assert "(matches the meter's key)" in out
    assert main(["audit", "sim:aes", "--recover-key"]) == 0
    assert "key recovery FAILED" in capsys.readouterr().out


def test_cli_audits_a_served_meter_over_mep(capsys: pytest.CaptureFixture[str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "osgp", "meter", "serve", "--mep", "tcp://127.0.0.1:0",
         "--mak", "0x" + "01" * 16, "--duration", "60"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("mep tcp://"), line
        url = line.split(" ", 1)[1]
        time.sleep(0.1)
        rc = main(["audit", f"mep:{url}", "--mak", "0x" + "01" * 16, "--json"])
        doc = json.loads(capsys.readouterr().out)
    finally:
        proc.terminate()
        proc.wait(10)
    checks = {f["check"]: f["severity"] for f in doc["findings"]}
    assert rc == 1
    assert checks["default-key"] == "critical"
    assert checks["security-mode"] == "high"
    assert checks["mep-legacy"] == "high"


def test_cli_audits_a_network_from_a_fleet_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps([{"endpoint": "sim:aes"}, {"endpoint": "sim:default"}]))
    assert main(["audit", "--fleet", str(fleet), "--json"]) == 1
    found = {(f["meter"], f["check"]) for f in json.loads(capsys.readouterr().out)["findings"]}
    assert ("sim:default", "default-key") in found
    assert not any(m == "sim:aes" and c != "pk-enabled" for m, c in found)
    fleet.write_text('{"endpoint": "sim:aes"}')
    assert main(["audit", "--fleet", str(fleet)]) == 2
    assert "JSON list" in capsys.readouterr().err


def test_cli_audits_a_served_meter_over_the_optical_port(
    capsys: pytest.CaptureFixture[str],
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "osgp", "meter", "serve", "--optical", "tcp://127.0.0.1:0",
         "--mk", "master-key-1", "--plc-lockout", "0", "--duration", "60"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("optical tcp://"), line
        url = line.split(" ", 1)[1]
        rc = main(["audit", f"optical:{url}", "--mk", "master-key-1", "--json"])
        doc = json.loads(capsys.readouterr().out)
        assert main(["audit", f"optical:{url}", "--mk", "wrong-key"]) == 0
        wrong = capsys.readouterr().out
    finally:
        proc.terminate()
        proc.wait(10)
    checks = {f["check"]: f["severity"] for f in doc["findings"]}
    assert rc == 1
    assert checks["lockout-off"] == "high"  # ET55.20 = 0 read from the meter's tables
    assert checks["security-mode"] == "high"
    assert "0x0B" in wrong or "refused" in wrong  # a wrong password reads nothing


def test_unreachable_meter_is_listed_and_the_others_audited(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["audit", "optical:tcp://127.0.0.1:1", "sim:aes", "--mk", "x"]) == 3
    captured = capsys.readouterr()
    assert "optical tcp://127.0.0.1:1: not reachable" in captured.out
    assert "sim:aes" in captured.out and "Connection refused" in captured.err


def free_udp_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.parametrize("mode", ["rc4", "aes"])
def test_cli_attacks_a_served_meter_plc_port_over_cnip(
    mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    omak, psk = "0x5a1f00e3c4b27788d9016c3e", "0x000102030405060708090a0b0c0d0e0f"
    lp, lu = free_udp_ports(2)
    extra = ["--security-mode", "aes", "--aes-psk", psk] if mode == "aes" else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "osgp", "meter", "serve", "--cnip", "udp://127.0.0.1:0",
         "--cnip-peer", f"127.0.0.1:{lp}:{lu}", "--omak", omak, "--duration", "60", *extra],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()  # cnip udp://HOST:PORT urgent U
        assert line[0] == "cnip", line
        ep = f"cnip:{line[1]}:{line[3]}"
        args = ["audit", ep, "--omak", omak, "--cnip-local", f"127.0.0.1:{lp}:{lu}"]
        if mode == "aes":
            args += ["--aes-psk", psk]
        rc = main([*args, "--recover-key", "--json"])
        doc = json.loads(capsys.readouterr().out)
    finally:
        proc.terminate()
        proc.wait(10)
    (attack,) = doc["key_recovery"]
    checks = {f["check"] for f in doc["findings"]}
    if mode == "rc4":
        assert rc == 1
        assert attack["recovered"] and attack["key"] == omak[2:] and attack["queries"] < 200
        assert {"key-recovered", "security-mode"} <= checks
    else:
        assert rc == 0
        assert not attack["recovered"] and attack["bits_learned"] == 0
        assert not {"key-recovered", "security-mode"} & checks
