"""Request and response bodies of the REST API (they make its OpenAPI document)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from osgp.headend.commands import DEVICE_OPERATIONS

# Ids are printable, bounded and free of MQTT wildcards / NULs (PostgreSQL refuses NUL in text).
Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Text = Annotated[str, Field(max_length=1000, pattern=r"^[^\x00]*$")]
Role = Literal["read", "operator"]
DeviceOperation = Literal[
    "dim",
    "switch_on",
    "switch_off",
    "set_schedule",
    "set_power_limit",
    "set_power_factor",
    "read_status",
]
assert get_args(DeviceOperation) == DEVICE_OPERATIONS
CommandStatus = Literal["queued", "sent", "delivered", "succeeded", "failed", "cancelled"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(BaseModel):
    status: str
    database: str
    revision: str | None
    link_connected: list[str]
    mqtt_connected: bool | None


class ConcentratorIn(_In):
    id: Ident
    name: Text = ""
    transformer: Text = ""
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    token: Annotated[str, Field(min_length=16, max_length=128, pattern=r"^[!-~]+$")] | None = None


class ConcentratorOut(BaseModel):
    id: str
    name: str
    transformer: str
    status: str
    address: str
    last_seen: dt.datetime | None
    latitude: float | None
    longitude: float | None
    devices: int


class ConcentratorCreated(BaseModel):
    concentrator: ConcentratorOut
    token: str = Field(
        description="The link token; shown only once. Configure it on the concentrator."
    )


class RegisterValue(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    reg: str = Field(alias="register")
    value: float
    unit: str
    read_at: dt.datetime


class DeviceOut(BaseModel):
    id: str
    concentrator_id: str | None
    kind: str
    serial: str
    model: str
    firmware: str
    bus: int | None
    phase: int | None
    phases: int
    feeder: str
    distance_m: float | None
    status: str
    relay: str
    last_seen: dt.datetime | None
    attributes: dict[str, Any]


class DeviceDetail(DeviceOut):
    registers: list[RegisterValue]
    path: list[str] | None = Field(description="Repeater hops from the latest topology snapshot")


class DevicePage(BaseModel):
    items: list[DeviceOut]
    total: int


class ReadOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    reg: str = Field(alias="register")
    read_at: dt.datetime
    value: float
    unit: str


class IntervalOut(BaseModel):
    end: dt.datetime
    value: float
    status: int


class LoadProfile(BaseModel):
    device: str
    channel: str
    channels: list[str] = Field(description="All channels this device has")
    intervals: list[IntervalOut]


class EventOut(BaseModel):
    id: int
    concentrator_id: str
    source: str
    code: int
    name: str
    severity: str
    occurred_at: dt.datetime
    details: dict[str, Any]


class AlarmOut(EventOut):
    state: Literal["active", "acknowledged"]
    acknowledged_by: str | None
    acknowledged_at: dt.datetime | None
    note: str | None


class AlarmAckIn(_In):
    note: Text = ""


class PowerQualityOut(BaseModel):
    recorded_at: dt.datetime
    kind: str
    phase: int
    voltage_v: float | None
    current_a: float | None
    frequency_hz: float | None
    thd_pct: float | None
    duration_s: float | None


class LinkQualityOut(BaseModel):
    device_id: str
    sampled_at: dt.datetime
    signal_db: float | None
    margin_db: float | None
    hops: int
    success_rate: float | None


class TopologyNodeOut(BaseModel):
    device: str
    level: int
    proxy: bool
    parent: str | None
    kind: str | None
    bus: int | None
    phase: int | None
    status: str | None


class TopologyLinkOut(BaseModel):
    a: str
    b: str
    signal_db: float
    margin_db: float


class TopologyPathOut(BaseModel):
    device: str
    hops: list[str]


class TopologyOut(BaseModel):
    concentrator: str
    snapshot_id: int
    taken_at: dt.datetime
    nodes: list[TopologyNodeOut]
    links: list[TopologyLinkOut]
    paths: list[TopologyPathOut]


class CommandIn(_In):
    kind: Literal[
        "read", "connect", "disconnect", "time_sync", "broadcast", "device_operation", "discover"
    ]
    concentrator: Ident | None = Field(
        default=None, description="Needed when no device is given (broadcast, discover)"
    )
    device: Ident | None = None
    group: Ident | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class ReadIn(_In):
    registers: list[Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]] = (
        Field(default_factory=list, max_length=64, description="Empty: all billing registers")
    )


class TimeSyncIn(_In):
    time: dt.datetime | None = Field(default=None, description="Default: the head-end's clock")


class OperationIn(_In):
    operation: DeviceOperation
    params: dict[str, Any] = Field(default_factory=dict)


class BroadcastIn(_In):
    operation: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
    group: Ident | None = Field(default=None, description="Device group; default all devices")
    params: dict[str, Any] = Field(default_factory=dict)


class CommandOut(BaseModel):
    id: int
    concentrator_id: str
    device_id: str | None
    group: str | None
    kind: str
    params: dict[str, Any]
    status: str
    created_at: dt.datetime
    created_by: str
    sent_at: dt.datetime | None
    delivered_at: dt.datetime | None
    completed_at: dt.datetime | None
    result: dict[str, Any] | None
    error: str


class CampaignIn(_In):
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]
    version: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[!-~]+$")]
    image_b64: Annotated[str, Field(min_length=4, max_length=4_000_000)] = Field(
        description="The firmware image, base64"
    )
    block_size: int = Field(default=128, ge=16, le=1024)
    devices: list[Ident] = Field(default_factory=list, max_length=100_000)
    concentrators: list[Ident] = Field(
        default_factory=list, max_length=10_000, description="All devices of these concentrators"
    )
    kind: Annotated[str, Field(max_length=32, pattern=r"^[A-Za-z0-9_\-]*$")] | None = Field(
        default=None, description="Only devices of this kind (with concentrators)"
    )


class CampaignDeviceOut(BaseModel):
    device_id: str
    concentrator_id: str
    state: str
    blocks_done: int
    blocks_total: int
    updated_at: dt.datetime | None
    error: str


class CampaignOut(BaseModel):
    id: int
    name: str
    version: str
    image_size: int
    block_size: int
    image_sha256: str
    status: str
    created_at: dt.datetime
    created_by: str
    counts: dict[str, int] = Field(description="Devices per state")
    progress_pct: float
    devices: list[CampaignDeviceOut] | None = None


class FeederVoltage(BaseModel):
    device: str
    bus: int | None
    feeder: str
    distance_m: float | None
    phase: int
    voltage_min: float
    voltage_mean: float
    voltage_max: float
    samples: int


class Outage(BaseModel):
    device: str
    start: dt.datetime
    end: dt.datetime | None
    duration_s: float | None
    source: Literal["power_quality", "events"]


class PhaseLoad(BaseModel):
    phase: int
    energy_wh: float
    devices: int


class LinkQualityBucket(BaseModel):
    start: dt.datetime
    samples: int
    signal_db: float | None
    margin_db: float | None
    success_rate: float | None


class GridHealth(BaseModel):
    concentrator: str
    transformer: str
    since: dt.datetime
    until: dt.datetime
    voltages: list[FeederVoltage]
    outages: list[Outage]
    phase_balance: list[PhaseLoad]
    imbalance_pct: float | None = Field(description="(max - min) / mean of the phase energies")
    link_quality: list[LinkQualityBucket]


class ApiKeyIn(_In):
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@\-]+$")]
    role: Role


class ApiKeyCreated(BaseModel):
    name: str
    role: str
    key: str = Field(description="Shown only once")
