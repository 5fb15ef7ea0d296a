"""Head-end tables (SQLAlchemy 2 typed ORM).

Measurement tables carry a *natural key* (device, quantity, time) with a unique constraint, so that
a reading delivered twice (a concentrator resending a batch whose ack was lost) is stored once:
ingest inserts with ON CONFLICT DO NOTHING on both SQLite and PostgreSQL.

Times are UTC ``DateTime(timezone=True)``. SQLite keeps no zone; :func:`utc` re-attaches it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "AlarmAck",
    "ApiKey",
    "Base",
    "CampaignDevice",
    "Command",
    "Concentrator",
    "Device",
    "Event",
    "FirmwareCampaign",
    "LinkBatch",
    "LinkQualitySample",
    "LoadProfileInterval",
    "PowerQuality",
    "RegisterRead",
    "TopologyLink",
    "TopologyNode",
    "TopologyPath",
    "TopologySnapshot",
    "utc",
]

# Named constraints so Alembic migrations are stable across dialects.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TS = DateTime(timezone=True)
# BigInteger ids that are still SQLite's rowid alias (autoincrement needs INTEGER there).
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """The same instant with tzinfo=UTC (SQLite returns naive datetimes)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Concentrator(Base):
    """One data concentrator (one LV transformer / PLC segment)."""

    __tablename__ = "concentrators"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    transformer: Mapped[str] = mapped_column(String(200), default="")
    #: Shared secret of the link (HMAC key); the head-end must know it to verify the concentrator.
    link_token: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="offline")
    address: Mapped[str] = mapped_column(String(100), default="")
    last_seen: Mapped[dt.datetime | None] = mapped_column(TS, nullable=True)
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(TS, default=now_utc)

    devices: Mapped[list[Device]] = relationship(back_populates="concentrator")


class Device(Base):
    """A meter or a non-meter device (streetlight, DER inverter, load switch, ...)."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    concentrator_id: Mapped[str | None] = mapped_column(
        ForeignKey("concentrators.id", ondelete="SET NULL"), nullable=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(32), default="meter")
    serial: Mapped[str] = mapped_column(String(32), default="")
    model: Mapped[str] = mapped_column(String(64), default="")
    firmware: Mapped[str] = mapped_column(String(64), default="")
    #: Grid position: bus index in the LV grid, phase 1..3 (None for three-phase), phases 1 or 3.
    bus: Mapped[int | None] = mapped_column(Integer, nullable=True)
    phase: Mapped[int | None] = mapped_column(Integer, nullable=True)
    phases: Mapped[int] = mapped_column(Integer, default=1)
    feeder: Mapped[str] = mapped_column(String(64), default="")
    #: Electrical distance from the transformer along the feeder, metres (for voltage profiles).
    distance_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    relay: Mapped[str] = mapped_column(String(16), default="unknown")
    last_seen: Mapped[dt.datetime | None] = mapped_column(TS, nullable=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    concentrator: Mapped[Concentrator | None] = relationship(back_populates="devices")


class TopologySnapshot(Base):
    """The segment's topology as the concentrator reported it at one time."""

    __tablename__ = "topology_snapshots"
    __table_args__ = (UniqueConstraint("concentrator_id", "taken_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    concentrator_id: Mapped[str] = mapped_column(
        ForeignKey("concentrators.id", ondelete="CASCADE"), index=True
    )
    taken_at: Mapped[dt.datetime] = mapped_column(TS)

    nodes: Mapped[list[TopologyNode]] = relationship(
        cascade="all, delete-orphan", order_by="TopologyNode.device_id"
    )
    links: Mapped[list[TopologyLink]] = relationship(cascade="all, delete-orphan")
    paths: Mapped[list[TopologyPath]] = relationship(
        cascade="all, delete-orphan", order_by="TopologyPath.device_id"
    )


class TopologyNode(Base):
    __tablename__ = "topology_nodes"

    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("topology_snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: Repeater level: 0 = heard directly by the concentrator, n = n proxies in between.
    level: Mapped[int] = mapped_column(Integer, default=0)
    is_proxy: Mapped[bool] = mapped_column(default=False)
    parent: Mapped[str | None] = mapped_column(String(64), nullable=True)


class TopologyLink(Base):
    """A power-line link heard during discovery: signal strength and margin in dB."""

    __tablename__ = "topology_links"

    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("topology_snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    a: Mapped[str] = mapped_column(String(64), primary_key=True)
    b: Mapped[str] = mapped_column(String(64), primary_key=True)
    signal_db: Mapped[float] = mapped_column(Float)
    margin_db: Mapped[float] = mapped_column(Float)


class TopologyPath(Base):
    """The path the concentrator uses to reach a device: the ordered list of repeaters."""

    __tablename__ = "topology_paths"

    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("topology_snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hops: Mapped[list[Any]] = mapped_column(JSON, default=list)


class RegisterRead(Base):
    """One register value (energy, demand, ...) read at one time.

    Natural key: device, register, time."""

    __tablename__ = "register_reads"
    __table_args__ = (UniqueConstraint("device_id", "register", "read_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    register: Mapped[str] = mapped_column(String(64))
    read_at: Mapped[dt.datetime] = mapped_column(TS)
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16), default="")


class LoadProfileInterval(Base):
    """One load-profile interval value. Natural key: device, channel, interval end."""

    __tablename__ = "load_profile_intervals"
    __table_args__ = (UniqueConstraint("device_id", "channel", "interval_end"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(64))
    interval_end: Mapped[dt.datetime] = mapped_column(TS)
    value: Mapped[float] = mapped_column(Float)
    #: Interval status bits as the meter reported them (0 = normal).
    status: Mapped[int] = mapped_column(Integer, default=0)


class Event(Base):
    """A device or concentrator event; severity ``alarm`` makes it an alarm.

    ``source`` is the device id, or the concentrator id for the concentrator's own events; the
    natural key is (concentrator, source, code, time)."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("concentrator_id", "source", "code", "occurred_at"),
        Index("ix_events_source_time", "source", "occurred_at"),
        Index("ix_events_severity_time", "severity", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    concentrator_id: Mapped[str] = mapped_column(ForeignKey("concentrators.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(64))
    code: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64), default="")
    severity: Mapped[str] = mapped_column(String(16), default="info")
    occurred_at: Mapped[dt.datetime] = mapped_column(TS)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AlarmAck(Base):
    """An operator's acknowledgement of an alarm (an event with severity ``alarm``)."""

    __tablename__ = "alarm_acks"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    acknowledged_by: Mapped[str] = mapped_column(String(100))
    acknowledged_at: Mapped[dt.datetime] = mapped_column(TS, default=now_utc)
    note: Mapped[str] = mapped_column(Text, default="")


class PowerQuality(Base):
    """A power-quality record: a periodic sample or a sag/swell/outage.

    ``phase`` 1..3, or 0 for a record that covers all phases."""

    __tablename__ = "power_quality"
    __table_args__ = (UniqueConstraint("device_id", "kind", "phase", "recorded_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    recorded_at: Mapped[dt.datetime] = mapped_column(TS)
    kind: Mapped[str] = mapped_column(String(16), default="sample")
    phase: Mapped[int] = mapped_column(Integer, default=0)
    voltage_v: Mapped[float | None] = mapped_column(Float, nullable=True)
    current_a: Mapped[float | None] = mapped_column(Float, nullable=True)
    frequency_hz: Mapped[float | None] = mapped_column(Float, nullable=True)
    thd_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)


class LinkQualitySample(Base):
    """Power-line link quality of one device at one time, as its concentrator measured it."""

    __tablename__ = "link_quality"
    __table_args__ = (UniqueConstraint("device_id", "sampled_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    concentrator_id: Mapped[str] = mapped_column(
        ForeignKey("concentrators.id", ondelete="CASCADE"), index=True
    )
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    sampled_at: Mapped[dt.datetime] = mapped_column(TS)
    signal_db: Mapped[float | None] = mapped_column(Float, nullable=True)
    margin_db: Mapped[float | None] = mapped_column(Float, nullable=True)
    hops: Mapped[int] = mapped_column(Integer, default=0)
    #: Fraction of transactions that succeeded since the previous sample (0..1).
    success_rate: Mapped[float | None] = mapped_column(Float, nullable=True)


class Command(Base):
    """A command for one device, a group, or a whole segment, and its result.

    Status: queued -> sent -> delivered (the concentrator stored it) -> succeeded | failed."""

    __tablename__ = "commands"
    __table_args__ = (Index("ix_commands_conc_status", "concentrator_id", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    concentrator_id: Mapped[str] = mapped_column(ForeignKey("concentrators.id", ondelete="CASCADE"))
    device_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    group: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    created_at: Mapped[dt.datetime] = mapped_column(TS, default=now_utc)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    sent_at: Mapped[dt.datetime | None] = mapped_column(TS, nullable=True)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(TS, nullable=True)
    completed_at: Mapped[dt.datetime | None] = mapped_column(TS, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")


class FirmwareCampaign(Base):
    """A firmware download to a set of devices (one command per concentrator carries it)."""

    __tablename__ = "firmware_campaigns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(64))
    image_size: Mapped[int] = mapped_column(Integer)
    block_size: Mapped[int] = mapped_column(Integer, default=128)
    image_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="running")
    created_at: Mapped[dt.datetime] = mapped_column(TS, default=now_utc)
    created_by: Mapped[str] = mapped_column(String(100), default="")

    devices: Mapped[list[CampaignDevice]] = relationship(
        cascade="all, delete-orphan", order_by="CampaignDevice.device_id"
    )


class CampaignDevice(Base):
    """Progress of one device in a campaign: pending, downloading, verifying, activated, failed."""

    __tablename__ = "campaign_devices"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("firmware_campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    concentrator_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    blocks_done: Mapped[int] = mapped_column(Integer, default=0)
    blocks_total: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime | None] = mapped_column(TS, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")


class LinkBatch(Base):
    """Every batch a concentrator delivered, by its batch id: a resent batch is recognised."""

    __tablename__ = "link_batches"

    concentrator_id: Mapped[str] = mapped_column(
        ForeignKey("concentrators.id", ondelete="CASCADE"), primary_key=True
    )
    batch_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(TS, default=now_utc)
    records: Mapped[int] = mapped_column(Integer, default=0)


class ApiKey(Base):
    """A REST API key, stored as its SHA-256; role ``read`` or ``operator``."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(TS, default=now_utc)


# The natural-key unique indexes serve most time-range queries; power quality is read by device.
Index("ix_pq_device_time", PowerQuality.device_id, PowerQuality.recorded_at)
