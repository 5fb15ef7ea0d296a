"""Events a :class:`osgp.lon.node.Node` hands to its application (``Node.next_event()``).

All are frozen dataclasses. ``MessageReceived.incoming`` is the token to pass to
``Node.respond(now, incoming, apdu)`` when the message was a REQUEST.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from osgp.lon.address import Address
from osgp.lon.apdu import APDU
from osgp.lon.netmgmt import NodeState

__all__ = [
    "AuthenticationFailed",
    "Event",
    "Incoming",
    "ManagementHandled",
    "MessageReceived",
    "NodeStateChanged",
    "ResetRequested",
    "ResponseReceived",
    "Service",
    "ServicePinReceived",
    "Source",
    "TransactionCompleted",
    "Wink",
]


class Service(Enum):
    """ISO/IEC 14908-1 message services."""

    ACKD = "acknowledged"
    UNACKD_RPT = "repeated"
    UNACKD = "unacknowledged"
    REQUEST = "request/response"


@dataclass(frozen=True)
class Source:
    """Where a frame came from. ``domain_index`` is None for the flex domain (not in our table)."""

    subnet: int
    node: int
    domain: bytes
    domain_index: int | None
    group: int | None = None  # the responder's group (format 2b answers)
    member: int | None = None  # the responder's member number (format 2b answers)


@dataclass(frozen=True)
class Incoming:
    """Identifies one received transaction, so that the application can answer it."""

    record_id: int
    tid: int
    service: Service
    source: Source
    address: Address
    priority: bool
    version: int
    alt_path: bool


@dataclass(frozen=True)
class MessageReceived:
    """An application message (NV, explicit, foreign) arrived and was accepted."""

    apdu: APDU
    service: Service
    source: Source
    address: Address
    priority: bool
    authenticated: bool
    incoming: Incoming | None  # None for unacknowledged messages (nothing to answer)


@dataclass(frozen=True)
class ResponseReceived:
    """A response to our REQUEST ``handle`` (one event per responder)."""

    handle: int
    apdu: APDU
    source: Source


@dataclass(frozen=True)
class TransactionCompleted:
    """Our transaction ``handle`` ended: all expected ACKs/responses arrived, or retries ran out.

    For UNACKD_RPT ``success`` means "all copies were sent". ``answered`` counts the ACKs or
    responses that arrived, ``expected`` how many were needed.
    """

    handle: int
    success: bool
    reason: str
    service: Service
    answered: int = 0
    expected: int = 0


@dataclass(frozen=True)
class AuthenticationFailed:
    """A challenged sender's reply did not match: the message was not delivered or acked."""

    source: Source
    tid: int
    apdu: APDU


@dataclass(frozen=True)
class ServicePinReceived:
    """Some node sent its service pin message (Neuron ID and program ID)."""

    neuron_id: bytes
    program_id: bytes
    source: Source


@dataclass(frozen=True)
class ManagementHandled:
    """The node answered a network-management or diagnostics request by itself.

    ``response`` is the APDU sent back (None: no response, e.g. a null Query ID answer or a
    request that came unacknowledged).
    """

    request: APDU
    response: APDU | None
    source: Source


@dataclass(frozen=True)
class NodeStateChanged:
    old: NodeState
    new: NodeState


@dataclass(frozen=True)
class Wink:
    """Wink (NM 0x70) received: the application should identify itself (blink, beep)."""

    source: Source


@dataclass(frozen=True)
class ResetRequested:
    """Set Node Mode asked for an application reset (mode 2) or a physical reset (mode 6).

    The node's own protocol state is already reset for a physical reset.
    """

    physical: bool
    source: Source


Event = (
    MessageReceived
    | ResponseReceived
    | TransactionCompleted
    | AuthenticationFailed
    | ServicePinReceived
    | ManagementHandled
    | NodeStateChanged
    | Wink
    | ResetRequested
)
