"""Scenarios: small TOML files that say which grid, which devices, what traffic and what goes wrong.

Example (every key but ``grid`` is optional)::

    name = "rural3"
    description = "simbench rural LV grid, one meter per load, polled every 15 minutes"
    grid = "simbench:1-LV-rural3--0-sw"  # or "pandapower:lv_schutterwald" + segment = "T_idx_47"
    hours = 24
    seed = 1
    day_of_year = 15                        # which day of the simbench load profiles drives noise

    [devices]
    max_meters = 0        # 0: one meter per load of the segment (at the load's bus)
    every_nth_load = 1    # keep every n-th load's meter (thin a big segment)
    concentrator_receive_records = 16   # receive transaction records of the concentrator's node

    [[devices.add]]       # more devices at a bus (polled like meters; after the meters)
    bus = 17              # the grid's bus index (the link table's "bus" column)
    count = 2
    name = "streetlight"

    [channel]             # overrides of osgp.plc.params.ChannelParams
    capture_margin_db = 10.0

    [traffic]
    poll_interval_s = 900     # the concentrator reads each meter (REQUEST/RESPONSE) this often
    request_bytes = 12        # application payload bytes of a read request
    response_bytes = 40       # ... of a meter's answer
    report_interval_s = 3600  # each meter also sends an unacknowledged report (Poisson) this often
    report_bytes = 16
    transmit_timer = 10       # LonTalk transmit timer code of the reads (10 = 512 ms)
    retries = 3

    [[noise]]                 # extra noise at some nodes for a while
    start_h = 18.0
    end_h = 20.0
    nodes = [3, 4, 5]         # node indices (0 is the concentrator)
    extra_db = 20.0

    [[failure]]               # a node is off (neither sends nor receives) for a while
    node = 7
    at_h = 6.0
    until_h = 9.0             # omit to stay off until the end
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from osgp.plc.params import DEFAULT, ChannelParams

__all__ = [
    "Failure",
    "NoiseSpec",
    "Scenario",
    "ScenarioError",
    "Traffic",
    "list_scenarios",
    "load_scenario",
]


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the key."""


@dataclass(frozen=True)
class Traffic:
    poll_interval_s: float = 900.0
    request_bytes: int = 12
    response_bytes: int = 40
    report_interval_s: float = 3600.0
    report_bytes: int = 16
    transmit_timer: int = 10
    retries: int = 3

    def __post_init__(self) -> None:
        intervals = (self.poll_interval_s, self.report_interval_s)
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in intervals):
            raise ScenarioError("traffic intervals must be finite numbers")
        if self.poll_interval_s < 0 or self.report_interval_s < 0:
            raise ScenarioError("traffic intervals must be >= 0 (0 disables)")
        for name in ("request_bytes", "response_bytes", "report_bytes"):
            v = getattr(self, name)
            if not isinstance(v, int) or not 1 <= v <= 200:
                raise ScenarioError(f"traffic.{name} must be 1..200")
        if not all(isinstance(v, int) for v in (self.transmit_timer, self.retries)):
            raise ScenarioError("traffic.transmit_timer and traffic.retries must be integers")
        if not 0 <= self.transmit_timer <= 15 or not 0 <= self.retries <= 15:
            raise ScenarioError("traffic.transmit_timer and traffic.retries must be 0..15")


@dataclass(frozen=True)
class NoiseSpec:
    start_h: float
    end_h: float
    nodes: tuple[int, ...]
    extra_db: float


@dataclass(frozen=True)
class Failure:
    node: int
    at_h: float
    until_h: float | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    grid: str
    segment: str | None = None
    description: str = ""
    hours: float = 24.0
    seed: int = 1
    day_of_year: int = 15
    max_meters: int = 0
    every_nth_load: int = 1
    concentrator_receive_records: int = 16
    extra_devices: tuple[tuple[int, int, str], ...] = ()
    channel: ChannelParams = DEFAULT
    traffic: Traffic = field(default_factory=Traffic)
    noise: tuple[NoiseSpec, ...] = ()
    failures: tuple[Failure, ...] = ()
    path: str = ""

    @classmethod
    def from_dict(cls, doc: dict[str, Any], path: str = "") -> Scenario:
        known = {"name", "grid", "segment", "description", "hours", "seed", "day_of_year"}
        known |= {"devices", "channel", "traffic", "noise", "failure"}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise ScenarioError(f"{path or 'scenario'}: unknown key(s) {', '.join(unknown)}")
        if "grid" not in doc:
            raise ScenarioError(f"{path or 'scenario'}: 'grid' is required")
        try:
            devices = dict(doc.get("devices", {}))
            bad = sorted(
                set(devices)
                - {"max_meters", "every_nth_load", "concentrator_receive_records", "add"}
            )
            if bad:
                raise ScenarioError(f"devices: unknown key(s) {', '.join(bad)}")
            adds = devices.get("add", [])
            if not isinstance(adds, list):
                raise ScenarioError("devices.add must be an array of tables")
            extra = tuple(
                (int(d["bus"]), int(d.get("count", 1)), str(d.get("name", "device"))) for d in adds
            )
            if any(c < 1 for _, c, _ in extra):
                raise ScenarioError("devices.add: count must be >= 1")
            channel = DEFAULT.with_overrides(dict(doc.get("channel", {})))
            traffic = Traffic(**dict(doc.get("traffic", {})))
            noise_specs = doc.get("noise", [])
            failure_specs = doc.get("failure", [])
            if not isinstance(noise_specs, list) or not isinstance(failure_specs, list):
                raise ScenarioError("[[noise]] and [[failure]] must be arrays of tables")
            noise = tuple(
                NoiseSpec(
                    float(n["start_h"]),
                    float(n["end_h"]),
                    tuple(int(i) for i in n["nodes"]),
                    float(n["extra_db"]),
                )
                for n in noise_specs
            )
            failures = tuple(
                Failure(
                    int(f["node"]),
                    float(f["at_h"]),
                    None if f.get("until_h") is None else float(f["until_h"]),
                )
                for f in failure_specs
            )
            sc = cls(
                name=str(doc.get("name", Path(path).stem if path else "scenario")),
                grid=str(doc["grid"]),
                segment=None if doc.get("segment") is None else str(doc["segment"]),
                description=str(doc.get("description", "")),
                hours=float(doc.get("hours", 24.0)),
                seed=int(doc.get("seed", 1)),
                day_of_year=int(doc.get("day_of_year", 15)),
                max_meters=int(devices.get("max_meters", 0)),
                every_nth_load=int(devices.get("every_nth_load", 1)),
                concentrator_receive_records=int(devices.get("concentrator_receive_records", 16)),
                extra_devices=extra,
                channel=channel,
                traffic=traffic,
                noise=noise,
                failures=failures,
                path=path,
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            if isinstance(exc, ScenarioError):
                raise
            raise ScenarioError(f"{path or 'scenario'}: {exc}") from exc
        if (
            not math.isfinite(sc.hours)
            or sc.hours <= 0
            or sc.every_nth_load < 1
            or sc.max_meters < 0
        ):
            raise ScenarioError("hours must be > 0, every_nth_load >= 1, max_meters >= 0")
        if sc.concentrator_receive_records < 1:
            raise ScenarioError("devices.concentrator_receive_records must be >= 1")
        return sc

    def replace(self, **changes: Any) -> Scenario:
        from dataclasses import replace

        return replace(self, **changes)


def _shipped() -> dict[str, Any]:
    return {
        p.name[: -len(".toml")]: p
        for p in resources.files("osgp.plc").joinpath("scenarios").iterdir()
        if p.name.endswith(".toml")
    }


def list_scenarios() -> list[Scenario]:
    """The scenarios shipped with the package, by name."""
    return [load_scenario(name) for name in sorted(_shipped())]


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name (``rural3``) or a TOML file by path."""
    shipped = _shipped()
    key = str(name_or_path)
    if key in shipped:
        text = shipped[key].read_text(encoding="utf-8")
        where = f"{key} (shipped)"
    else:
        p = Path(name_or_path)
        if not p.exists():
            raise ScenarioError(
                f"no scenario {key!r}: not a shipped name ({', '.join(sorted(shipped))}) nor a file"
            )
        text = p.read_text(encoding="utf-8")
        where = str(p)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{where}: {exc}") from exc
    return Scenario.from_dict(doc, where)
