"""A PLC request/response channel to a meter over CN/IP (ISO/IEC 14908-4), for ``osgp audit``.

The auditor joins the meter's CN/IP channel as one more 14908 node (a concentrator's place: the
meter must know it as a peer, ``osgp meter serve --cnip-peer``), sends OSGP request APDUs as
explicit request messages and waits for the responses. The asyncio node runs on a loop in a
background thread so that the key recovery, a plain loop of oracle calls, can use it.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

#: The auditor's identity on the channel (a concentrator's place: subnet 1, node 1).
AUDITOR_NEURON_ID = bytes.fromhex("0a0d17000001")


def parse_host_ports(text: str, default_port: int = 1628) -> tuple[str, int, int]:
    """``HOST:PORT[:URGENT]`` (a ``udp://`` prefix allowed); the urgent port defaults to
    PORT + 1."""
    text = text.removeprefix("udp://")
    parts = text.split(":")
    host = parts[0] or "127.0.0.1"
    port = int(parts[1]) if len(parts) > 1 else default_port
    urgent = int(parts[2]) if len(parts) > 2 else port + 1
    return host, port, urgent


class CnipPlcChannel:
    """``request(apdu) -> response apdu`` (``b""`` when nothing came back in time)."""

    def __init__(
        self,
        meter: tuple[str, int, int],
        local: tuple[str, int, int],
        *,
        domain: bytes = b"\x01",
        subnet: int = 1,
        node: int = 2,
        timeout: float = 5.0,
    ) -> None:
        self.meter = meter
        self.subnet, self.node_id = subnet, node
        self.timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._node: Any = self._run(self._open(local, domain))

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _open(self, local: tuple[str, int, int], domain: bytes) -> Any:
        from osgp.lon.netmgmt import DomainEntry
        from osgp.lon.node import Node, NodeConfig
        from osgp.lon.udp import CnipLink, Peer, UdpNode

        link = await CnipLink.open(*local)
        link.add_peer(Peer(*self.meter))
        config = NodeConfig(
            neuron_id=AUDITOR_NEURON_ID, domains=(DomainEntry.for_domain(domain, 1, 1),)
        )
        return UdpNode(Node(config, random.Random()), link)

    async def _transact(self, apdu: bytes) -> bytes:
        from osgp.app.framing.plc import from_explicit, to_explicit
        from osgp.lon.apdu import ExplicitMessage
        from osgp.lon.node import SubnetNodeDest
        from osgp.lon.node_events import Service

        try:
            done, responses = await self._node.transact(
                SubnetNodeDest(self.subnet, self.node_id),
                to_explicit(apdu),
                Service.REQUEST,
                timeout=self.timeout,
            )
        except TimeoutError:
            return b""
        for r in responses:
            if isinstance(r.apdu, ExplicitMessage):
                return from_explicit(r.apdu)
        del done
        return b""

    def request(self, apdu: bytes) -> bytes:
        return self._run(self._transact(apdu))

    def close(self) -> None:
        self._node.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


#: The meter identity in AES nonces (``osgp meter serve`` default).
METER_DEVICE_ID = bytes.fromhex("000000000001")


def plc_exchange(
    channel: CnipPlcChannel, omak: bytes, c12: bytes, *, aes_psk: bytes | None = None
) -> tuple[bytes, bytes]:
    """One authenticated request with the auditor's key: the OMA key, sent in clear as an
    eavesdropper would record it, or AES-sealed with ``aes_psk``. A 0x0C answer is followed by
    the resend. Returns ``(request apdu, C12 response)``."""
    from osgp.app.framing.plc import PlcClient, PlcReply, PlcResend, SecurityMode

    if aes_psk is not None:
        client = PlcClient(
            mode=SecurityMode.AES, aes_key=aes_psk, device_id=METER_DEVICE_ID, sequence=1
        )
    else:
        client = PlcClient(omak, encrypt=False, sequence=1)
    apdu = client.request(c12)
    event = client.receive(channel.request(apdu) or b"\x3c")
    if isinstance(event, PlcResend):
        apdu = event.apdu
        event = client.receive(channel.request(apdu) or b"\x3c")
    if not isinstance(event, PlcReply):
        raise ConnectionError(f"the meter did not accept the auditor's request: {event}")
    return apdu, event.response


__all__ = ["AUDITOR_NEURON_ID", "CnipPlcChannel", "parse_host_ports", "plc_exchange"]
