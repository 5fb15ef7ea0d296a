"""A whole segment: replay by seed, utilisation = sum of airtimes, the stack's nodes really talk
over the medium, failures and noise events act, capture readable by tshark, link table."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from osgp.cli import main
from osgp.lon.mac import PL20A
from osgp.lon.tshark import INSTALL_HINT, check_capture
from osgp.pcap import read_pcap
from osgp.plc.scenario import Failure, Scenario, Traffic, load_scenario
from osgp.plc.sim import Simulation
from osgp.plc.stats import LINK_COLUMNS

SMALL = load_scenario("rural3").replace(
    max_meters=30,
    every_nth_load=3,
    traffic=Traffic(poll_interval_s=60.0, report_interval_s=300.0),
    noise=(),
    failures=(),
)


def _run(sc: Scenario, seed: int, hours: float = 0.5) -> Simulation:
    return Simulation(sc, seed=seed, log_frames=True).run(hours)


def test_same_seed_replays_frame_for_frame() -> None:
    a, b = _run(SMALL, 7), _run(SMALL, 7)
    assert len(a.frames) > 300
    assert a.frames == b.frames  # start, end, sender, carrier, bytes and receivers
    assert a.summary()["medium"] == b.summary()["medium"]
    c = _run(SMALL, 8)
    assert c.frames != a.frames


def test_utilisation_is_the_sum_of_frame_airtimes() -> None:
    sim = _run(SMALL, 3)
    s = sim.summary()
    total = sum(f.end - f.start for f in sim.frames)
    assert s["medium"]["frames"] == len(sim.frames)
    assert s["medium"]["airtime_s"] == pytest.approx(total, abs=1e-5)
    assert s["medium"]["utilisation"] == pytest.approx(total / 1800.0, abs=1e-6)
    for f in sim.frames:
        assert f.end - f.start == pytest.approx(PL20A.airtime(len(f.frame)))


def test_polls_travel_through_the_stack_and_alt_path_uses_the_secondary_carrier() -> None:
    sim = _run(SMALL, 3)
    s = sim.summary()
    tr = s["traffic"]
    assert tr["polls"] >= 29 * 30 * 0.9
    assert tr["polls_ok"] > 0.5 * tr["polls"]
    assert tr["reports_received"] > 0
    # Last two tries go on the alternate path: the medium puts them on the secondary carrier.
    alt = [f for f in sim.frames if f.alt]
    assert alt and all(f.frame[0] & 0x40 for f in alt)
    assert all(not f.frame[0] & 0x40 for f in sim.frames if not f.alt)
    assert s["mac"]["transmissions"] == len(sim.frames)


def test_a_failed_meter_stops_answering_and_comes_back() -> None:
    m = 1
    sc = SMALL.replace(failures=(Failure(m, 0.0, 0.25),))
    sim = Simulation(sc, seed=3, log_frames=True).run(0.5)
    sent_by_m = [f.start for f in sim.frames if f.sender == m]
    assert sent_by_m and min(sent_by_m) >= 0.25 * 3600
    assert sim.app.per_meter_polls[m][1] > 0  # answers again after the failure


def test_noise_event_cuts_a_meter_off() -> None:
    from osgp.plc.scenario import NoiseSpec

    quiet = Simulation(SMALL, seed=3).run(0.5)
    loud = Simulation(SMALL.replace(noise=(NoiseSpec(0.0, 1.0, (1, 2), 80.0),)), seed=3).run(0.5)
    assert quiet.app.per_meter_polls[1][1] > 0
    assert loud.app.per_meter_polls[1][1] == 0
    assert loud.app.per_meter_polls[2][1] == 0


def test_cli_json_pcap_and_link_table_of_the_shipped_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if shutil.which("tshark") is None:
        pytest.fail(INSTALL_HINT)
    pcap, csv_path, png = tmp_path / "m.pcap", tmp_path / "links.csv", tmp_path / "links.png"
    rc = main(
        [
            "simulate", "rural3", "--hours", "0.25", "--seed", "2", "--json",
            "--pcap", str(pcap), "--links-csv", str(csv_path), "--links-png", str(png),
        ]
    )  # fmt: skip
    assert rc == 0
    s = json.loads(capsys.readouterr().out)
    assert s["scenario"]["meters"] == 118 and s["scenario"]["hours"] == 0.25
    for key in ("frames", "errors", "collisions", "utilisation"):
        assert key in s["medium"]
    assert len(s["links"]) == 118 and set(s["links"][0]) == set(LINK_COLUMNS)
    # the capture: one packet per frame, all decoded by tshark as CN/IP + LON
    assert len(read_pcap(pcap)) == s["medium"]["frames"]
    checks = check_capture(pcap)
    assert len(checks) == s["medium"]["frames"] and all(c.ok for c in checks)
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 118 and tuple(rows[0]) == LINK_COLUMNS
    assert sum(r["needs_repeater"] == "True" for r in rows) == s["reachability"]["need_repeater"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_pcap_of_one_receiver_holds_only_what_it_decoded(tmp_path: Path) -> None:
    pcap = tmp_path / "rx.pcap"
    sim = Simulation(SMALL, seed=3, pcap=pcap, sniffer=5, log_frames=True).run(0.25)
    sim.close()
    got = read_pcap(pcap)
    assert len(got) == sum(1 for f in sim.frames if 5 in f.decoded_by) > 0


def test_cli_list_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--list"]) == 0
    out = capsys.readouterr().out
    assert "rural3" in out and "schutterwald" in out
    assert main(["simulate", "nope"]) == 2
    assert "no scenario" in capsys.readouterr().err


def test_capture_is_in_time_order(tmp_path: Path) -> None:
    pcap = tmp_path / "all.pcap"
    sim = Simulation(SMALL, seed=3, pcap=pcap, log_frames=True).run(0.25)
    sim.close()
    stamps = [r.timestamp for r in read_pcap(pcap)]
    assert len(stamps) == len(sim.frames) and stamps == sorted(stamps)


def test_devices_added_at_a_bus_are_polled_and_reported(tmp_path: Path) -> None:
    p = tmp_path / "extra.toml"
    p.write_text(
        'grid = "simbench:1-LV-rural3--0-sw"\n[devices]\nmax_meters = 5\n'
        '[[devices.add]]\nbus = 22\ncount = 2\nname = "streetlight"\n'
        "[traffic]\npoll_interval_s = 60\n"
    )
    sim = Simulation(load_scenario(p), seed=2).run(0.1)
    assert sim.segment.n == 1 + 5 + 2
    added = sim.segment.nodes[-2:]
    assert [nd.name for nd in added] == ["streetlight 22/1", "streetlight 22/2"]
    assert all(nd.kind == "device" and nd.bus == 22 for nd in added)
    # bus 22 is also where "LV3.101 Load 31" sits: same distance to the concentrator
    meter = next(i for i, nd in enumerate(sim.segment.nodes) if nd.bus == 22 and i < 6)
    assert sim.segment.length_km[0, 6] == sim.segment.length_km[0, meter]
    assert sim.app.per_meter_polls[6][0] > 0 and sim.app.per_meter_polls[7][1] > 0
    assert [r["name"] for r in sim.summary()["links"]][-2:] == [nd.name for nd in added]


def test_a_device_on_a_bus_outside_the_segment_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text('grid = "simbench:1-LV-rural3--0-sw"\n[[devices.add]]\nbus = 99999\n')
    with pytest.raises(ValueError, match="99999"):
        Simulation(load_scenario(p))
