"""NPDU address field (ISO/IEC 14908-1 layer 3): the five address formats and domains.

| format | class | bytes |
|---|---|---|
| 0 | :class:`BroadcastAddress` | src subnet, [1|src node], dst subnet (0 = domain-wide) |
| 1 | :class:`GroupAddress` | src subnet, [1|src node], group |
| 2a | :class:`SubnetNodeAddress` | src subnet, [1|src node], dst subnet, [1|dst node] |
| 2b | :class:`GroupAckAddress` | src subnet, [0|src node], dst subnet, [1|dst node], group, member|
| 3 | :class:`NeuronIdAddress` | src subnet, [1|src node], dst subnet, Neuron ID (6 bytes) |

Bit 7 of the source-node byte is the *selector*: 0 only in format 2b, which is how a receiver tells
2a from 2b. Bit 7 of the destination-node byte is always 1 (facts §2.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

from osgp.lon.errors import DecodeError, LocalProtocolError, check_bytes, check_range, need

LAYER = "NPDU"

#: Domain ID lengths by the NPDU's 2-bit domain length code.
DOMAIN_LENGTHS: tuple[int, int, int, int] = (0, 1, 3, 6)
NEURON_ID_LENGTH = 6
MAX_NODE = 127
MAX_MEMBER = 63  # an M_List of at most 8 bytes covers members 0..63 (facts §2.2)


class AddressFormat(IntEnum):
    """The 2-bit address format code of the NPDU header."""

    BROADCAST = 0
    GROUP = 1
    SUBNET_NODE = 2  # 2a, and 2b (group acknowledgement) which shares the code
    NEURON_ID = 3


def domain_length_code(domain: bytes) -> int:
    """The 2-bit NPDU code of a domain ID (0, 1, 3 or 6 bytes)."""
    try:
        return DOMAIN_LENGTHS.index(len(domain))
    except ValueError:
        raise LocalProtocolError(f"domain must be 0, 1, 3 or 6 bytes, got {len(domain)}") from None


def _check_source(subnet: int, node: int) -> None:
    # Source subnet 0 / node 0 is legal: a node answering in the flex domain uses it.
    check_range("src_subnet", subnet, 0, 255)
    check_range("src_node", node, 0, MAX_NODE)


@dataclass(frozen=True, slots=True)
class BroadcastAddress:
    """Format 0: to every node of ``dst_subnet`` (0 = the whole domain)."""

    src_subnet: int
    src_node: int
    dst_subnet: int = 0

    FORMAT: ClassVar[AddressFormat] = AddressFormat.BROADCAST
    LENGTH: ClassVar[int] = 3

    def __post_init__(self) -> None:
        _check_source(self.src_subnet, self.src_node)
        check_range("dst_subnet", self.dst_subnet, 0, 255)

    def to_bytes(self) -> bytes:
        return bytes((self.src_subnet, 0x80 | self.src_node, self.dst_subnet))


@dataclass(frozen=True, slots=True)
class GroupAddress:
    """Format 1: to the members of ``group``."""

    src_subnet: int
    src_node: int
    group: int

    FORMAT: ClassVar[AddressFormat] = AddressFormat.GROUP
    LENGTH: ClassVar[int] = 3

    def __post_init__(self) -> None:
        _check_source(self.src_subnet, self.src_node)
        check_range("group", self.group, 0, 255)

    def to_bytes(self) -> bytes:
        return bytes((self.src_subnet, 0x80 | self.src_node, self.group))


@dataclass(frozen=True, slots=True)
class SubnetNodeAddress:
    """Format 2a: to one node by subnet/node."""

    src_subnet: int
    src_node: int
    dst_subnet: int
    dst_node: int

    FORMAT: ClassVar[AddressFormat] = AddressFormat.SUBNET_NODE
    LENGTH: ClassVar[int] = 4

    def __post_init__(self) -> None:
        _check_source(self.src_subnet, self.src_node)
        check_range("dst_subnet", self.dst_subnet, 0, 255)
        check_range("dst_node", self.dst_node, 0, MAX_NODE)

    def to_bytes(self) -> bytes:
        return bytes((self.src_subnet, 0x80 | self.src_node, self.dst_subnet, 0x80 | self.dst_node))


@dataclass(frozen=True, slots=True)
class GroupAckAddress:
    """Format 2b: a group member's ACK or response, to the sender by subnet/node.

    ``group`` and ``member`` are the responder's own group and member number.
    """

    src_subnet: int
    src_node: int
    dst_subnet: int
    dst_node: int
    group: int
    member: int

    FORMAT: ClassVar[AddressFormat] = AddressFormat.SUBNET_NODE
    LENGTH: ClassVar[int] = 6

    def __post_init__(self) -> None:
        _check_source(self.src_subnet, self.src_node)
        check_range("dst_subnet", self.dst_subnet, 0, 255)
        check_range("dst_node", self.dst_node, 0, MAX_NODE)
        check_range("group", self.group, 0, 255)
        check_range("member", self.member, 0, MAX_MEMBER)

    def to_bytes(self) -> bytes:
        return bytes(
            (
                self.src_subnet,
                self.src_node,  # selector bit 0 marks 2b
                self.dst_subnet,
                0x80 | self.dst_node,
                self.group,
                self.member,
            )
        )


@dataclass(frozen=True, slots=True)
class NeuronIdAddress:
    """Format 3: to one node by its 48-bit Neuron ID; ``dst_subnet`` is a routing hint (0 = all)."""

    src_subnet: int
    src_node: int
    dst_subnet: int
    neuron_id: bytes

    FORMAT: ClassVar[AddressFormat] = AddressFormat.NEURON_ID
    LENGTH: ClassVar[int] = 9

    def __post_init__(self) -> None:
        _check_source(self.src_subnet, self.src_node)
        check_range("dst_subnet", self.dst_subnet, 0, 255)
        check_bytes("neuron_id", self.neuron_id, (NEURON_ID_LENGTH,))

    def to_bytes(self) -> bytes:
        return bytes((self.src_subnet, 0x80 | self.src_node, self.dst_subnet)) + self.neuron_id


Address = BroadcastAddress | GroupAddress | SubnetNodeAddress | GroupAckAddress | NeuronIdAddress


def decode_address(data: bytes, pos: int, fmt: int, base: int = 0) -> tuple[Address, int]:
    """Decode the address field of format ``fmt`` at ``data[pos:]``; return it and the next pos.

    Raises :class:`DecodeError` (offsets are ``base + position in data``).
    """
    need(LAYER, "source address", data, pos, 2, base)
    src_subnet = data[pos]
    src_byte = data[pos + 1]
    src_node = src_byte & 0x7F
    selector = src_byte & 0x80
    if fmt == AddressFormat.SUBNET_NODE and not selector:
        need(LAYER, "address format 2b", data, pos, GroupAckAddress.LENGTH, base)
        dst_byte = data[pos + 3]
        if not dst_byte & 0x80:
            raise DecodeError(LAYER, "destination node", base + pos + 3, "bit 7 must be 1")
        member = data[pos + 5]
        if member > MAX_MEMBER:
            raise DecodeError(
                LAYER, "group member", base + pos + 5, f"must be 0..{MAX_MEMBER}, got {member}"
            )
        return (
            GroupAckAddress(
                src_subnet, src_node, data[pos + 2], dst_byte & 0x7F, data[pos + 4], member
            ),
            pos + 6,
        )
    if not selector:
        raise DecodeError(
            LAYER,
            "source node",
            base + pos + 1,
            f"selector bit 7 must be 1 in address format {fmt}",
        )
    if fmt == AddressFormat.BROADCAST:
        need(LAYER, "address format 0", data, pos, 3, base)
        return BroadcastAddress(src_subnet, src_node, data[pos + 2]), pos + 3
    if fmt == AddressFormat.GROUP:
        need(LAYER, "address format 1", data, pos, 3, base)
        return GroupAddress(src_subnet, src_node, data[pos + 2]), pos + 3
    if fmt == AddressFormat.SUBNET_NODE:
        need(LAYER, "address format 2a", data, pos, 4, base)
        dst_byte = data[pos + 3]
        if not dst_byte & 0x80:
            raise DecodeError(LAYER, "destination node", base + pos + 3, "bit 7 must be 1")
        return SubnetNodeAddress(src_subnet, src_node, data[pos + 2], dst_byte & 0x7F), pos + 4
    need(LAYER, "address format 3", data, pos, 9, base)
    return (
        NeuronIdAddress(src_subnet, src_node, data[pos + 2], bytes(data[pos + 3 : pos + 9])),
        pos + 9,
    )
