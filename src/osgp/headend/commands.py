"""Commands for concentrators: what the REST API creates and the link delivers.

Lifecycle: ``queued`` (stored) -> ``sent`` (written to the concentrator's link) -> ``delivered``
(the concentrator acknowledged that it stored it) -> ``succeeded`` | ``failed`` (its result came
back in a batch). A command still ``queued`` or ``sent`` is sent again on every reconnect; the
concentrator recognises repeats by the command id.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from osgp.headend.db import models as m
from osgp.headend.records import to_epoch

__all__ = [
    "COMMAND_KINDS",
    "DEVICE_OPERATIONS",
    "claim_pending",
    "command_wire",
    "mark_delivered",
]

#: Command kinds a concentrator must understand (``params`` per kind in docs/headend-link.md).
COMMAND_KINDS = (
    "read",  # on-demand read: params {"registers": [...]} or {"tables": [...]}
    "connect",  # close the service switch
    "disconnect",  # open the service switch
    "time_sync",  # set the device clock: params {"time": epoch seconds}
    "broadcast",  # group broadcast: params {"operation": ..., ...}, group or all devices
    "device_operation",  # non-meter device: params {"operation": ..., ...}
    "firmware_campaign",  # params {"campaign", "version", "image_b64", "block_size", "devices"}
    "discover",  # re-run topology discovery
)

#: Non-meter device operations the API accepts (params beyond ``operation`` are passed through).
DEVICE_OPERATIONS = (
    "dim",  # streetlight: {"level": 0..100}
    "switch_on",
    "switch_off",
    "set_schedule",  # streetlight / load switch: {"schedule": [...]}
    "set_power_limit",  # DER inverter: {"percent": 0..100}
    "set_power_factor",  # DER inverter: {"power_factor": -1..1}
    "read_status",
)


def command_wire(cmd: m.Command) -> dict[str, Any]:
    """The ``command`` frame fields for one stored command."""
    return {
        "id": cmd.id,
        "kind": cmd.kind,
        "device": cmd.device_id,
        "group": cmd.group,
        "params": cmd.params or {},
        "created": to_epoch(cmd.created_at),
    }


def claim_pending(engine: Engine, concentrator_id: str) -> list[dict[str, Any]]:
    """Commands to (re)send to ``concentrator_id``, oldest first, marked ``sent``."""
    with Session(engine) as session, session.begin():
        cmds = session.scalars(
            select(m.Command)
            .where(
                m.Command.concentrator_id == concentrator_id,
                m.Command.status.in_(("queued", "sent")),
            )
            .order_by(m.Command.id)
        ).all()
        wire = [command_wire(c) for c in cmds]
        now = m.now_utc()
        for c in cmds:
            if c.status == "queued":
                c.status = "sent"
                c.sent_at = now
    return wire


def mark_delivered(engine: Engine, concentrator_id: str, command_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(m.Command)
            .where(
                m.Command.id == command_id,
                m.Command.concentrator_id == concentrator_id,
                m.Command.status.in_(("queued", "sent")),
            )
            .values(status="delivered", delivered_at=m.now_utc())
        )
