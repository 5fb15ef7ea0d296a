"""What a concentrator reports: the records of a link batch, validated.

These pydantic models are the JSON schema of the ``records`` of a ``batch`` frame of the
concentrator link (see ``docs/headend-link.md``). Times are POSIX seconds (UTC) on the
concentrator's clock, which may be a simulated clock running faster than real time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Batch",
    "CampaignProgressRecord",
    "CommandResultRecord",
    "DeviceRecord",
    "EventRecord",
    "IntervalRecord",
    "LinkQualityRecord",
    "PowerQualityRecord",
    "ReadRecord",
    "TopologyLinkRecord",
    "TopologyNodeRecord",
    "TopologyPathRecord",
    "TopologyRecord",
    "from_epoch",
    "to_epoch",
]

Severity = Literal["info", "warning", "alarm"]
Epoch = float


def from_epoch(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def to_epoch(value: dt.datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DeviceId = Field(min_length=1, max_length=64)


class DeviceRecord(_Record):
    """A device the concentrator knows (after discovery or when its state changes)."""

    id: str = DeviceId
    kind: str = Field(default="meter", max_length=32)
    serial: str = Field(default="", max_length=32)
    model: str = Field(default="", max_length=64)
    firmware: str = Field(default="", max_length=64)
    bus: int | None = None
    phase: int | None = Field(default=None, ge=1, le=3)
    phases: int = Field(default=1, ge=1, le=3)
    feeder: str = Field(default="", max_length=64)
    distance_m: float | None = None
    status: str = Field(default="online", max_length=16)
    relay: str = Field(default="unknown", max_length=16)
    attributes: dict[str, Any] = Field(default_factory=dict)


class ReadRecord(_Record):
    """A register value, e.g. ``energy_import_wh``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    device: str = DeviceId
    # ``register`` on the wire; BaseModel already has a ``register`` attribute.
    reg: str = Field(alias="register", min_length=1, max_length=64)
    ts: Epoch = Field(ge=0)
    value: float
    unit: str = Field(default="", max_length=16)


class IntervalRecord(_Record):
    """A load-profile interval, stamped with its end."""

    device: str = DeviceId
    channel: str = Field(default="import_wh", min_length=1, max_length=64)
    end: Epoch = Field(ge=0)
    value: float
    status: int = 0


class EventRecord(_Record):
    """A device event (``device`` set) or a concentrator event (``device`` None)."""

    device: str | None = Field(default=None, max_length=64)
    code: int
    name: str = Field(default="", max_length=64)
    severity: Severity = "info"
    ts: Epoch = Field(ge=0)
    details: dict[str, Any] = Field(default_factory=dict)


class PowerQualityRecord(_Record):
    device: str = DeviceId
    ts: Epoch = Field(ge=0)
    kind: Literal["sample", "sag", "swell", "outage", "interruption"] = "sample"
    phase: int = Field(default=0, ge=0, le=3)
    voltage: float | None = None
    current: float | None = None
    frequency: float | None = None
    thd: float | None = None
    duration: float | None = None


class LinkQualityRecord(_Record):
    device: str = DeviceId
    ts: Epoch = Field(ge=0)
    signal: float | None = None
    margin: float | None = None
    hops: int = Field(default=0, ge=0)
    success: float | None = Field(default=None, ge=0, le=1)


class TopologyNodeRecord(_Record):
    device: str = DeviceId
    level: int = Field(default=0, ge=0)
    proxy: bool = False
    parent: str | None = None


class TopologyLinkRecord(_Record):
    a: str = DeviceId
    b: str = DeviceId
    signal: float
    margin: float


class TopologyPathRecord(_Record):
    device: str = DeviceId
    hops: list[str] = Field(default_factory=list)


class TopologyRecord(_Record):
    """The whole segment topology at ``ts``: nodes, heard links, chosen repeater paths."""

    ts: Epoch = Field(ge=0)
    nodes: list[TopologyNodeRecord] = Field(default_factory=list)
    links: list[TopologyLinkRecord] = Field(default_factory=list)
    paths: list[TopologyPathRecord] = Field(default_factory=list)


class CommandResultRecord(_Record):
    """The outcome of a command the head-end sent."""

    command: int = Field(ge=1)
    status: Literal["succeeded", "failed"]
    ts: Epoch = Field(ge=0)
    result: dict[str, Any] = Field(default_factory=dict)
    error: str = ""


class CampaignProgressRecord(_Record):
    campaign: int = Field(ge=1)
    device: str = DeviceId
    state: Literal["pending", "downloading", "verifying", "activated", "failed"]
    blocks_done: int = Field(default=0, ge=0)
    blocks_total: int = Field(default=0, ge=0)
    ts: Epoch = Field(ge=0)
    error: str = ""


class Batch(_Record):
    """Everything one link batch may carry; every list may be empty."""

    devices: list[DeviceRecord] = Field(default_factory=list)
    reads: list[ReadRecord] = Field(default_factory=list)
    intervals: list[IntervalRecord] = Field(default_factory=list)
    events: list[EventRecord] = Field(default_factory=list)
    power_quality: list[PowerQualityRecord] = Field(default_factory=list)
    link_quality: list[LinkQualityRecord] = Field(default_factory=list)
    topology: list[TopologyRecord] = Field(default_factory=list)
    results: list[CommandResultRecord] = Field(default_factory=list)
    campaign_progress: list[CampaignProgressRecord] = Field(default_factory=list)

    def count(self) -> int:
        return (
            len(self.devices)
            + len(self.reads)
            + len(self.intervals)
            + len(self.events)
            + len(self.power_quality)
            + len(self.link_quality)
            + len(self.topology)
            + len(self.results)
            + len(self.campaign_progress)
        )
