"""ISO/IEC 14908-1 (LonTalk) stack and CN/IP transport.

Frame codec API (sans-IO, frozen dataclasses, exact both ways; see docs/lon-frames.md):

- ``osgp.lon.errors``: ``DecodeError(ValueError)`` (``.layer``, ``.field``, ``.offset``; the only
  exception decoders raise on bad bytes) and ``LocalProtocolError`` (invalid object built locally,
  raised from ``__post_init__`` or ``to_bytes``).
- ``osgp.lon.crc``: ``crc16(data) -> int``, ``crc16_bytes``, ``append_crc``, ``check_crc(frame)``.
- ``osgp.lon.lpdu``: ``LPDU(npdu, priority=False, alt_path=False, delta_backlog=0)``;
  ``LPDU.to_bytes()`` appends the CRC, ``LPDU.from_bytes(data, check_crc=True)``;
  ``encode_lpdu`` / ``decode_lpdu``.
- ``osgp.lon.npdu``: ``NPDU(address, pdu, domain=b"", version=0)``; version 2 = enhanced (12-bit
  TIDs); ``pdu`` is a ``TPDU | SPDU | AuthPDU | APDU``; ``PDUFormat``.
- ``osgp.lon.address``: ``BroadcastAddress(src_subnet, src_node, dst_subnet=0)`` (fmt 0),
  ``GroupAddress(src_subnet, src_node, group)`` (1), ``SubnetNodeAddress(src_subnet, src_node,
  dst_subnet, dst_node)`` (2a), ``GroupAckAddress(..., dst_subnet, dst_node, group, member)`` (2b),
  ``NeuronIdAddress(src_subnet, src_node, dst_subnet, neuron_id: bytes(6))`` (3); ``Address`` union.
- ``osgp.lon.tpdu``: ``TPDU(type: TPDUType, tid, apdu=None, auth=False, m_list=b"")``,
  ``SPDU(type: SPDUType, ...)`` (same fields), ``AuthPDU(type: AuthType, tid, fmt, value: bytes(8),
  group=None)``; ``m_list_from_members`` / ``members_from_m_list``.
- ``osgp.lon.apdu``: ``APDU`` base (``APDU.from_bytes`` dispatches), ``NVMessage(selector,
  direction: NVDirection, data)``, ``ExplicitMessage(code 0x00..0x3F, data)``, ``ForeignFrame(code
  0x40..0x4F, data)``, ``DiagnosticMessage(code 0x50..0x5F, data)``, ``ManagementMessage(code
  0x60..0x7F, data)``.
- ``osgp.lon.netmgmt``: typed network management / diagnostics requests and responses and the
  response-code rule (``success_code``, ``failure_code``).
- ``osgp.lon.render``: ``render_tree(obj) -> str``, ``to_dict(obj) -> dict`` (JSON-able).
"""

from osgp.lon.address import (
    Address,
    AddressFormat,
    BroadcastAddress,
    GroupAckAddress,
    GroupAddress,
    NeuronIdAddress,
    SubnetNodeAddress,
)
from osgp.lon.apdu import (
    APDU,
    DiagnosticMessage,
    ExplicitMessage,
    ForeignFrame,
    ManagementMessage,
    NVDirection,
    NVMessage,
    decode_apdu,
)
from osgp.lon.crc import crc16
from osgp.lon.errors import DecodeError, LocalProtocolError
from osgp.lon.lpdu import LPDU, decode_lpdu, encode_lpdu
from osgp.lon.npdu import NPDU, PDUFormat
from osgp.lon.tpdu import (
    SPDU,
    TPDU,
    AuthPDU,
    AuthType,
    SPDUType,
    TPDUType,
    m_list_from_members,
    members_from_m_list,
)

__all__ = [
    "APDU",
    "LPDU",
    "NPDU",
    "SPDU",
    "TPDU",
    "Address",
    "AddressFormat",
    "AuthPDU",
    "AuthType",
    "BroadcastAddress",
    "DecodeError",
    "DiagnosticMessage",
    "ExplicitMessage",
    "ForeignFrame",
    "GroupAckAddress",
    "GroupAddress",
    "LocalProtocolError",
    "ManagementMessage",
    "NVDirection",
    "NVMessage",
    "NeuronIdAddress",
    "PDUFormat",
    "SPDUType",
    "SubnetNodeAddress",
    "TPDUType",
    "crc16",
    "decode_apdu",
    "decode_lpdu",
    "encode_lpdu",
    "m_list_from_members",
    "members_from_m_list",
]
