"""Hypothesis strategies for every ISO/IEC 14908-1 PDU type (reusable by other lon tests).

Usage::

    from tests.lon.strategies import lpdus, npdus, apdus, addresses
    @given(lpdus())
    def test_x(lpdu): ...
"""

from __future__ import annotations

from hypothesis import strategies as st

from osgp.lon import netmgmt as nm
from osgp.lon.address import (
    Address,
    BroadcastAddress,
    GroupAckAddress,
    GroupAddress,
    NeuronIdAddress,
    SubnetNodeAddress,
)
from osgp.lon.apdu import (
    APDU,
    MAX_APDU_DATA,
    DiagnosticMessage,
    ExplicitMessage,
    ForeignFrame,
    ManagementMessage,
    NVDirection,
    NVMessage,
)
from osgp.lon.lpdu import LPDU
from osgp.lon.npdu import NPDU, EnclosedPDU
from osgp.lon.tpdu import SPDU, TPDU, AuthPDU, AuthType, SPDUType, TPDUType

#: Header bytes an LPDU can need besides its APDU data (L2, NPDU, 2b/3 address, 6-byte domain,
#: enhanced TID, 8-byte M_List, NV selector, CRC), so generated LPDUs stay within 254 bytes.
LPDU_OVERHEAD = 1 + 1 + 9 + 6 + 2 + 9 + 2 + 2
LPDU_MAX_DATA = 254 - LPDU_OVERHEAD

subnets = st.integers(0, 255)
nodes = st.integers(0, 127)
bytes_ = st.integers(0, 255)
neuron_ids = st.binary(min_size=6, max_size=6)
domains = st.sampled_from([0, 1, 3, 6]).flatmap(lambda n: st.binary(min_size=n, max_size=n))


def addresses() -> st.SearchStrategy[Address]:
    return st.one_of(
        st.builds(BroadcastAddress, subnets, nodes, subnets),
        st.builds(GroupAddress, subnets, nodes, bytes_),
        st.builds(SubnetNodeAddress, subnets, nodes, subnets, nodes),
        st.builds(GroupAckAddress, subnets, nodes, subnets, nodes, bytes_, st.integers(0, 63)),
        st.builds(NeuronIdAddress, subnets, nodes, subnets, neuron_ids),
    )


def apdus(max_data: int = MAX_APDU_DATA) -> st.SearchStrategy[APDU]:
    data = st.binary(max_size=max_data)
    return st.one_of(
        st.builds(NVMessage, st.integers(0, 0x3FFF), st.sampled_from(NVDirection), data),
        st.builds(ExplicitMessage, st.integers(0x00, 0x3F), data),
        st.builds(ForeignFrame, st.integers(0x40, 0x4F), data),
        st.builds(DiagnosticMessage, st.integers(0x50, 0x5F), data),
        st.builds(ManagementMessage, st.integers(0x60, 0x7F), data),
    )


m_lists = st.binary(max_size=8)


def _tids(enhanced: bool) -> st.SearchStrategy[int]:
    return st.integers(0, 0xFFF if enhanced else 15)


@st.composite
def tpdus(draw: st.DrawFn, enhanced: bool = False, max_data: int = MAX_APDU_DATA) -> TPDU:
    kind = draw(st.sampled_from(TPDUType))
    tid = draw(_tids(enhanced))
    auth = draw(st.booleans())
    apdu = draw(apdus(max_data)) if kind not in (TPDUType.ACK, TPDUType.REMINDER) else None
    m_list = draw(m_lists) if kind in (TPDUType.REMINDER, TPDUType.REM_MSG) else b""
    return TPDU(kind, tid, apdu, auth, m_list)


@st.composite
def spdus(draw: st.DrawFn, enhanced: bool = False, max_data: int = MAX_APDU_DATA) -> SPDU:
    kind = draw(st.sampled_from(SPDUType))
    tid = draw(_tids(enhanced))
    auth = draw(st.booleans())
    apdu = draw(apdus(max_data)) if kind != SPDUType.REMINDER else None
    m_list = draw(m_lists) if kind in (SPDUType.REMINDER, SPDUType.REM_MSG) else b""
    return SPDU(kind, tid, apdu, auth, m_list)


@st.composite
def auth_pdus(draw: st.DrawFn, enhanced: bool = False) -> AuthPDU:
    fmt = draw(st.integers(0, 3))
    return AuthPDU(
        draw(st.sampled_from(AuthType)),
        draw(_tids(enhanced)),
        fmt,
        draw(st.binary(min_size=8, max_size=8)),
        draw(bytes_) if fmt == 1 else None,
    )


def enclosed_pdus(
    enhanced: bool = False, max_data: int = MAX_APDU_DATA
) -> st.SearchStrategy[EnclosedPDU]:
    return st.one_of(
        tpdus(enhanced, max_data),
        spdus(enhanced, max_data),
        auth_pdus(enhanced),
        apdus(max_data),
    )


@st.composite
def npdus(draw: st.DrawFn, version: int | None = None, max_data: int = MAX_APDU_DATA) -> NPDU:
    v = draw(st.sampled_from([0, 2])) if version is None else version
    return NPDU(draw(addresses()), draw(enclosed_pdus(v == 2, max_data)), draw(domains), v)


def lpdus(version: int | None = None) -> st.SearchStrategy[LPDU]:
    return st.builds(
        LPDU,
        npdus(version, LPDU_MAX_DATA),
        st.booleans(),
        st.booleans(),
        st.integers(0, 63),
    )


# --- network management / diagnostics ---------------------------------------------------------

program_ids = st.binary(min_size=8, max_size=8)
timers = st.integers(0, 15)

domain_entries = st.builds(
    nm.DomainEntry,
    domain_id=st.binary(min_size=6, max_size=6),
    id_length=st.integers(0, 7),
    subnet=subnets,
    node=nodes,
    key=st.binary(min_size=6, max_size=6),
    non_clone=st.booleans(),
    invalid=st.booleans(),
    ls_mode=st.booleans(),
    dhcp=st.booleans(),
    auth_type=st.integers(0, 3),
)

address_entries: st.SearchStrategy[nm.AddressEntry] = st.one_of(
    st.builds(
        nm.GroupEntry,
        st.integers(0, 127),
        st.integers(0, 1),
        st.integers(0, 127),
        timers,
        timers,
        timers,
        timers,
        bytes_,
    ),
    st.builds(nm.SubnetNodeEntry, st.integers(0, 1), nodes, timers, timers, timers, subnets),
    st.builds(
        nm.BroadcastEntry, st.integers(0, 1), st.integers(0, 63), timers, timers, timers, subnets
    ),
    st.builds(
        nm.RawAddressEntry,
        st.tuples(st.sampled_from([0, 2, 4, 127]), st.binary(min_size=4, max_size=4)).map(
            lambda t: bytes((t[0],)) + t[1]
        ),
    ),
)

memory_matches = st.builds(
    nm.MemoryMatch,
    st.sampled_from(
        [nm.MemoryMode.ABSOLUTE, nm.MemoryMode.READ_ONLY_RELATIVE, nm.MemoryMode.CONFIG_RELATIVE]
    ),
    st.integers(0, 0xFFFF),
    st.binary(max_size=32),
)


@st.composite
def _set_node_mode(draw: st.DrawFn) -> nm.SetNodeModeRequest:
    mode = draw(st.sampled_from(nm.NodeMode))
    state = draw(st.sampled_from(nm.NodeState)) if mode == nm.NodeMode.CHANGE_STATE else None
    return nm.SetNodeModeRequest(mode, state)


proxy_targets = st.one_of(
    st.none(),
    st.tuples(st.sampled_from([0, 1, 3]), st.binary(min_size=4, max_size=4)).map(
        lambda t: bytes((t[0],)) + t[1]
    ),
    st.binary(min_size=10, max_size=10).map(lambda b: b"\x02" + b),
)

nm_requests: st.SearchStrategy[nm.NMRequest] = st.one_of(
    st.builds(nm.ServicePin, neuron_ids, program_ids),
    st.builds(nm.QueryIdRequest, st.sampled_from(nm.QueryIdSelector), st.none() | memory_matches),
    st.builds(nm.RespondToQueryRequest, st.booleans()),
    st.builds(nm.UpdateDomainRequest, bytes_, domain_entries),
    st.builds(nm.LeaveDomainRequest, bytes_),
    st.builds(nm.UpdateKeyRequest, bytes_, st.binary(min_size=6, max_size=6)),
    st.builds(nm.UpdateAddressRequest, bytes_, address_entries),
    st.builds(nm.QueryAddressRequest, bytes_),
    st.builds(nm.QueryDomainRequest, bytes_),
    _set_node_mode(),
    st.builds(nm.ReadMemoryRequest, st.sampled_from(nm.MemoryMode), st.integers(0, 0xFFFF), bytes_),
    st.builds(
        nm.WriteMemoryRequest,
        st.sampled_from(nm.MemoryMode),
        st.integers(0, 0xFFFF),
        st.binary(max_size=64),
        bytes_,
    ),
    st.just(nm.QueryStatusRequest()),
    st.builds(nm.ProxyRequest, st.sampled_from(nm.ProxySubCommand), proxy_targets),
    st.just(nm.QueryXcvrStatusRequest()),
)

u16 = st.integers(0, 0xFFFF)

#: (request code, response) pairs.
nm_responses: st.SearchStrategy[tuple[int, nm.NMResponse]] = st.one_of(
    st.builds(nm.QueryIdResponse, neuron_ids, program_ids).map(lambda r: (0x61, r)),
    address_entries.map(lambda e: (0x67, nm.QueryAddressResponse(e))),
    domain_entries.map(lambda e: (0x6A, nm.QueryDomainResponse(e))),
    st.binary(max_size=64).map(lambda b: (0x6D, nm.ReadMemoryResponse(b))),
    st.builds(
        nm.QueryStatusResponse, u16, u16, u16, u16, u16, bytes_, bytes_, bytes_, bytes_, bytes_
    ).map(lambda r: (0x51, r)),
    st.binary(max_size=32).map(lambda b: (0x52, nm.ProxyResponse(b))),
    st.binary(min_size=7, max_size=7).map(lambda b: (0x54, nm.QueryXcvrStatusResponse(b))),
    st.sampled_from([0x63, 0x64, 0x65, 0x66, 0x6C, 0x6E]).map(lambda c: (c, nm.SuccessResponse(c))),
    st.integers(0x50, 0x7F).map(lambda c: (c, nm.FailureResponse(c))),
)
