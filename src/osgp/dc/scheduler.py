"""Scheduled and on-demand work: OSGP reads and commands through the PLC framing, over paths.

Every exchange is one C12 request in an OSGP PLC APDU (:mod:`osgp.app.framing.plc`, digest and
sequence number; a refused sequence number is re-sent once) carried by
:meth:`Concentrator.transact` (self-healing directed repeating). On top:

* :meth:`Collector.billing_read`: the daily billing read, BT23 (current registers) or BT26
  (self-read), read in parts that fit one APDU, stored durably (:class:`osgp.dc.store.DcStore`)
  before it counts as done;
* :meth:`Collector.daily_cycle`: every commissioned device once within a window, nearest levels
  first, failed ones retried after the rest (paths heal in between) and, if they still fail,
  re-discovery of their neighbourhood and a last try;
* :meth:`Collector.load_profile`: unread LP blocks (BT63 says how many, BT64 holds them), then
  BP05 to mark them read; :meth:`Collector.alarms_and_events`: BT03 and the unread BT74 entries,
  then BP05;
* :meth:`Collector.read` / :meth:`Collector.write` / :meth:`Collector.procedure`: on-demand work
  (submit with ``urgent=True`` to run before the schedule);
* :meth:`Collector.group_broadcast`: time sync / load control to every device as unacknowledged
  broadcasts, from the concentrator and from every proxy level (the agents re-broadcast).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from osgp.app.client import ProcedureCall, read_request, write_request
from osgp.app.framing.plc import PlcClient, PlcFailed, PlcReply, PlcResend
from osgp.app.services import ReadResponse, Request, Response, ServiceError, decode_response
from osgp.dc.repeating import Broadcast, Op, Outcome, Sleep
from osgp.lon.apdu import APDU, ExplicitMessage
from osgp.lon.errors import DecodeError
from osgp.lon.mac import PL20A

__all__ = ["DEFAULT_TABLE_SIZES", "Collector", "direct_frame_airtime"]

#: CHOICE: the concentrator knows table sizes from the device type (the default meter image
#: here); reading BT00/BT01 first would cost an exchange per device and cycle.
DEFAULT_TABLE_SIZES = {3: 13, 23: 471, 26: 1922, 61: 31, 63: 52, 64: 18410, 74: 1411}
#: Bytes per partial read: the response (3 + n + digest 8 + code 1) plus the proxy wrapping
#: must fit one 228-byte APDU.
CHUNK = 150
#: LPDU bytes around a directly addressed APDU: L2 header 1, NPDU header 1, format 2a address 4,
#: 3-byte domain, session header 1, CRC 2.
DIRECT_OVERHEAD = 12
#: Lists of BP05 (osgp.app.procedures): event log 1, load-profile set 1 is 3.
LIST_EVENT_LOG = 1
#: CHOICE: cycles without a read after which a device is reported missing.
MISSING_CYCLES = 3
LIST_LP1 = 3


def direct_frame_airtime(apdu_len: int) -> float:
    """Airtime of one frame carrying an APDU of ``apdu_len`` bytes to a neighbour."""
    return PL20A.airtime(DIRECT_OVERHEAD + apdu_len)


class Collector:
    """The collection side of one concentrator ``dc``. ``omak_for(nid)`` gives device keys."""

    def __init__(
        self,
        dc: Any,
        omak_for: Callable[[bytes], bytes],
        store: Any = None,
        *,
        table_sizes: dict[int, int] | None = None,
    ) -> None:
        self.dc = dc
        self.omak_for = omak_for
        self.store = store
        self.table_sizes = dict(DEFAULT_TABLE_SIZES if table_sizes is None else table_sizes)
        self.sequence: dict[bytes, int] = {}  # last OSGP sequence number used per device
        self.missed: dict[bytes, int] = {}  # consecutive cycles a device was not read
        self.psn: dict[bytes, int] = {}
        self.stats: dict[str, float] = {
            "reads_attempted": 0,
            "reads_succeeded": 0,
            "exchanges": 0,
            "exchanges_ok": 0,
            "min_airtime": 0.0,
        }
        self.cycles: list[dict[str, Any]] = []
        self.read_ok: dict[bytes, float] = {}

    # -- one exchange ----------------------------------------------------------------------

    def c12(self, nid: bytes, request: Request) -> Generator[Op, Any, Response | None]:
        # One client per exchange, the device's sequence number carried over: jobs that run
        # between each other's transactions never share a client's request state.
        client = PlcClient(self.omak_for(nid), sequence=self.sequence.get(nid, 0))
        raw = request.to_bytes()
        apdu = client.request(raw)
        for _ in range(2):
            self.stats["exchanges"] += 1
            out: Outcome = yield from self.dc.transact(nid, APDU.from_bytes(apdu))
            if not out.ok or not isinstance(out.apdu, ExplicitMessage):
                return None
            resp_apdu = out.apdu.to_bytes()
            ev = client.receive(resp_apdu)
            self.sequence[nid] = client.sequence
            self.stats["min_airtime"] += direct_frame_airtime(len(apdu)) + direct_frame_airtime(
                len(resp_apdu)
            )
            if isinstance(ev, PlcReply):
                self.stats["exchanges_ok"] += 1
                try:
                    return decode_response(ev.response, request)
                except ServiceError:
                    return None
            if isinstance(ev, PlcResend):
                apdu = ev.apdu
                continue
            assert isinstance(ev, PlcFailed)
            return None
        return None

    def read(
        self, nid: bytes, table: int, offset: int = 0, size: int | None = None
    ) -> Generator[Op, Any, bytes | None]:
        """Read ``size`` bytes of ``table`` (default: the whole table) in parts."""
        total = self.table_sizes.get(table) if size is None else size
        if total is None:
            resp = yield from self.c12(nid, read_request(table))
            return resp.data if isinstance(resp, ReadResponse) else None
        out = bytearray()
        pos = offset
        end = offset + total
        while pos < end:
            n = min(CHUNK, end - pos)
            resp = yield from self.c12(nid, read_request(table, pos, n))
            if not isinstance(resp, ReadResponse):
                return None
            out += resp.data[:n]
            pos += n
        return bytes(out)

    def write(
        self, nid: bytes, table: int, data: bytes, offset: int | None = None
    ) -> Generator[Op, Any, bool]:
        resp = yield from self.c12(nid, write_request(table, data, offset))
        return resp is not None and resp.ok

    def procedure(
        self, nid: bytes, procedure_id: int, params: bytes = b""
    ) -> Generator[Op, Any, Any]:
        """Run a procedure (BT07 write, BT08 polls); returns the ProcedureResponse or None."""
        psn = self.psn[nid] = (self.psn.get(nid, 0) + 1) & 0xFF
        call = ProcedureCall(procedure_id, params, psn, first_poll=0.0, timeout=10.0)
        while not call.done:
            req = call.next_request(self.dc.now)
            if req is None:
                t = call.next_timer()
                yield Sleep(t if t is not None else self.dc.now + 0.25)
                continue
            resp = yield from self.c12(nid, req)
            if resp is None:
                return None
            call.receive(resp, self.dc.now)
        return call.result if call.error is None else None

    # -- scheduled work --------------------------------------------------------------------

    def billing_read(self, nid: bytes, period: str, kind: str = "BT23") -> Generator[Op, Any, bool]:
        """One daily read; True once it is stored (or was stored before)."""
        if self.store is not None and self.store.has(nid, kind, period):
            return True
        table = 23 if kind == "BT23" else 26
        size = self.table_sizes[23] if kind == "BT23" else CHUNK  # BT26: header + newest part
        data = yield from self.read(nid, table, 0, size)
        if data is None:
            return False
        info: dict[str, Any] = {}
        if kind == "BT23":
            info = _bt23_values(data)
        if self.store is not None:
            self.store.put(nid, kind, period, data, self.dc.now, info)
        self.read_ok[nid] = self.dc.now
        return True

    def daily_cycle(
        self, period: str, window: float, *, kind: str = "BT23", devices: list[bytes] | None = None
    ) -> Generator[Op, Any, dict[str, Any]]:
        """Read every commissioned device once within ``window`` seconds from now."""
        dc = self.dc
        topo = dc.topology
        start = dc.now
        end = start + window
        air0 = dc.bus_airtime()
        min0 = self.stats["min_airtime"]
        topo.update_paths(dc.now)
        targets = devices
        if targets is None:
            targets = [n for n, d in topo.devices.items() if d.commissioned]
        targets.sort(key=lambda n: (topo.devices[n].level or 99, n))
        done: set[bytes] = set()
        attempted = 0
        reroutes0 = dc.stats["reroutes"]
        for attempt in range(3):
            todo = [n for n in targets if n not in done]
            if not todo or dc.now >= end:
                break
            if attempt == 2:
                lost = {n for n in todo if topo.path(n, dc.now) is None or topo.devices[n].failures}
                if lost and dc.discovery is not None:
                    yield from dc.discovery.rediscover(lost)
            for nid in todo:
                if dc.now >= end:
                    break
                if attempt == 0:
                    attempted += 1
                ok = yield from self.billing_read(nid, period, kind)
                if ok:
                    done.add(nid)
        for n in targets:
            self.missed[n] = 0 if n in done else self.missed.get(n, 0) + 1
        self.stats["reads_attempted"] += len(targets)
        self.stats["reads_succeeded"] += len(done)
        elapsed = max(1e-9, dc.now - start)
        air = (dc.bus_airtime()) - air0
        min_air = self.stats["min_airtime"] - min0
        summary = {
            "period": period,
            "kind": kind,
            "reads_attempted": len(targets),
            "reads_succeeded": len(done),
            "failed": sorted(n.hex() for n in targets if n not in done),
            "elapsed_s": elapsed,
            "min_airtime_s": min_air,
            "airtime_s": air,
            "collection_efficiency": min_air / elapsed,
            "airtime_efficiency": (min_air / air) if air > 0 else None,
            "reroutes": dc.stats["reroutes"] - reroutes0,
            "missing_devices": sorted(n.hex() for n in targets if self.removed(n)),
        }
        self.cycles.append(summary)
        return summary

    def routine(
        self,
        first_window: float,
        days: int,
        *,
        window: float = 4 * 3600.0,
        kind: str = "BT23",
        events: bool = False,
        sweep_every: int = 7,
    ) -> Generator[Op, Any, list[dict[str, Any]]]:
        """The daily schedule: at each window start a read cycle, then (with ``events``) BT03 and
        unread events of every device, the topology report, batches sealed for the head-end,
        and every ``sweep_every`` days a search for new devices. On-demand jobs run while it
        sleeps."""
        dc = self.dc
        out = []
        for day in range(days):
            start = first_window + day * 86400.0
            yield Sleep(start)
            period = f"day-{int(start // 86400)}"
            out.append((yield from self.daily_cycle(period, window, kind=kind)))
            if events:
                for nid in sorted(n for n, d in dc.topology.devices.items() if d.commissioned):
                    yield from self.alarms_and_events(nid)
            if self.store is not None:
                self.store.add_batch(dc.topology.records(dc.now))
                while self.store.seal_batch() is not None:
                    pass
            if dc.discovery is not None and sweep_every and day % sweep_every == sweep_every - 1:
                yield from dc.discovery.sweep(from_all=True)
        return out

    def removed(self, nid: bytes) -> bool:
        """A device not read in :data:`MISSING_CYCLES` cycles in a row, through every path and
        after re-discovery, is reported as missing (removed or dead)."""
        return self.missed.get(nid, 0) >= MISSING_CYCLES

    def load_profile(self, nid: bytes) -> Generator[Op, Any, int | None]:
        """Unread blocks of LP set 1 (BT63 says how many, BT61 how many BT64 holds), newest
        first, stored, then BP05 to mark them read; returns how many blocks were collected."""
        status = yield from self.read(nid, 63, 0, 13)
        if status is None:
            return None
        unread = int.from_bytes(status[9:11], "little")
        last = int.from_bytes(status[3:5], "little")
        if unread == 0:
            return 0
        dims = yield from self.read(nid, 61, 0, 13)
        if dims is None:
            return None
        capacity = max(1, int.from_bytes(dims[7:9], "little"))
        block = self.table_sizes[64] // capacity
        blocks = []
        for k in range(min(unread, capacity)):
            idx = (last - k) % capacity
            data = yield from self.read(nid, 64, idx * block, block)
            if data is None:
                return None
            blocks.append((idx, data))
        if self.store is not None:
            for idx, data in blocks:
                self.store.put(nid, "LP1", f"{int(self.dc.now)}-{idx}", data, self.dc.now)
        res = yield from self.procedure(nid, 5, bytes((LIST_LP1,)) + unread.to_bytes(2, "little"))
        return len(blocks) if res is not None else None

    def alarms_and_events(self, nid: bytes) -> Generator[Op, Any, bool]:
        """BT03 (status and alarms) and the unread event log (BT74), then BP05."""
        bt03 = yield from self.read(nid, 3)
        if bt03 is None:
            return False
        head = yield from self.read(nid, 74, 0, 11)
        if head is None:
            return False
        unread = int.from_bytes(head[9:11], "little")
        log = b""
        if unread:
            log_data = yield from self.read(nid, 74)
            if log_data is None:
                return False
            log = log_data
        if self.store is not None:
            period = str(int(self.dc.now))
            self.store.put(nid, "BT03", period, bt03, self.dc.now)
            if log:
                self.store.put(nid, "BT74", period, log, self.dc.now, {"unread": unread})
        if unread:
            res = yield from self.procedure(
                nid, 1 + 4, bytes((LIST_EVENT_LOG,)) + unread.to_bytes(2, "little")
            )
            return res is not None
        return True

    def group_broadcast(self, apdu: APDU) -> Generator[Op, Any, int]:
        """Send ``apdu`` to every device: from the concentrator, then from each proxy as agent
        (all repeaters on the way act on it too). Returns the number of transmissions."""
        dc = self.dc
        yield Broadcast(apdu)
        sent = 1
        for proxy in sorted(dc.topology.proxies(dc.now)):
            path = dc.topology.path(proxy, dc.now)
            if path is None:
                continue
            out: Outcome = yield Broadcast(apdu, (*path, proxy))
            sent += out.ok
        return sent


def _bt23_values(data: bytes) -> dict[str, Any]:
    try:
        from osgp.app import tables

        v = tables.get_table(23).decode(data, tables.default_context())
        s = v["tot_data_block"]["summations"]
        return {
            "values": {"energy_import_wh": s[0], "energy_export_wh": s[1]},
            "units": {"energy_import_wh": "Wh", "energy_export_wh": "Wh"},
        }
    except (DecodeError, KeyError, IndexError, TypeError, ValueError, AttributeError):
        return {}
