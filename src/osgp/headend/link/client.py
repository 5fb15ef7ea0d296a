"""The concentrator's side of the head-end link: :class:`HeadendLink`.

The concentrator puts what it collected into a durable *store* as numbered batches
(:meth:`HeadendLink.submit`); the link sends unacknowledged batches in order, up to ``window``
in flight, and tells the store when the head-end acknowledged each (it committed it). After a
disconnection it reconnects with backoff and resends every unacknowledged batch: the head-end
recognises batch ids it already stored, so nothing is lost and nothing is stored twice.

Commands flow down: ``on_command(command)`` is called for every ``command`` frame; when it
returns, the link acknowledges the command (so the callee must have stored it). After a
reconnect a command may be offered again: :meth:`LinkStore.accept_command` tells new from
repeated, and the link only calls ``on_command`` for new ones. Results go up as
``results`` records in a batch (:meth:`HeadendLink.submit_result`).

Example (the concentrator)::

    store = SqliteLinkStore("dc-1-outbox.db")
    link = HeadendLink("headend.example", 4059, "dc-1", token, store, on_command=handle)
    task = asyncio.create_task(link.run())
    link.submit({"reads": [{"device": "m1", "register": "energy_import_wh",
                            "ts": 1767225600, "value": 1234.5, "unit": "Wh"}]})
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from osgp.headend.link.protocol import (
    BatchAcked,
    ClientSession,
    CommandReceived,
    Connected,
    LinkError,
)

__all__ = ["HeadendLink", "LinkStore", "MemoryLinkStore", "SqliteLinkStore"]

log = logging.getLogger("osgp.headend.link.client")

OnCommand = Callable[[dict[str, Any]], Awaitable[None] | None]


class LinkStore(Protocol):
    """The concentrator's durable outbox (and command inbox) as the link sees it."""

    def add_batch(self, records: dict[str, Any]) -> int:
        """Store a batch; returns its id (ids increase)."""
        ...

    def pending(self, after: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """Unacknowledged batches with id > ``after``, oldest first, at most ``limit``."""
        ...

    def acknowledged(self, batch_id: int, rejected: str | None) -> None:
        """The head-end stored (or, with ``rejected``, refused for good) batch ``batch_id``."""
        ...

    def accept_command(self, command: dict[str, Any]) -> bool:
        """Remember a received command; False if it was already received before."""
        ...


class MemoryLinkStore:
    """A store in memory (tests, simulations that need no crash safety)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 1
        self.batches: dict[int, dict[str, Any]] = {}
        self.acked: list[int] = []
        self.rejected: dict[int, str] = {}
        self.commands: dict[int, dict[str, Any]] = {}

    def add_batch(self, records: dict[str, Any]) -> int:
        with self._lock:
            bid = self._next
            self._next += 1
            self.batches[bid] = records
            return bid

    def pending(self, after: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
        with self._lock:
            ids = sorted(b for b in self.batches if b > after)[:limit]
            return [(b, self.batches[b]) for b in ids]

    def acknowledged(self, batch_id: int, rejected: str | None) -> None:
        with self._lock:
            if self.batches.pop(batch_id, None) is not None:
                self.acked.append(batch_id)
                if rejected is not None:
                    self.rejected[batch_id] = rejected

    def accept_command(self, command: dict[str, Any]) -> bool:
        with self._lock:
            cid = int(command["id"])
            if cid in self.commands:
                return False
            self.commands[cid] = command
            return True


class SqliteLinkStore:
    """A crash-safe store in one SQLite file: batches survive a concentrator restart."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "records TEXT NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS acked (id INTEGER PRIMARY KEY, rejected TEXT)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY, command TEXT NOT NULL, "
            "received REAL NOT NULL)"
        )

    def add_batch(self, records: dict[str, Any]) -> int:
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO outbox (records) VALUES (?)",
                (json.dumps(records, separators=(",", ":")),),
            )
            return int(cur.lastrowid or 0)

    def pending(self, after: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, records FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
            ).fetchall()
        return [(int(i), json.loads(r)) for i, r in rows]

    def acknowledged(self, batch_id: int, rejected: str | None) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM outbox WHERE id = ?", (batch_id,))
            if rejected is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO acked (id, rejected) VALUES (?, ?)",
                    (batch_id, rejected),
                )
            self._db.execute("COMMIT")

    def accept_command(self, command: dict[str, Any]) -> bool:
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO inbox (id, command, received) VALUES (?, ?, ?)",
                (int(command["id"]), json.dumps(command), time.time()),
            )
            return cur.rowcount == 1

    def pending_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        self._db.close()


class HeadendLink:
    """Keeps a concentrator connected to its head-end and drains its store.

    ``run()`` loops until :meth:`stop`: connect, authenticate, send pending batches, receive
    acks and commands, reconnect with exponential backoff (``min_backoff``..``max_backoff``
    seconds) after any failure."""

    def __init__(
        self,
        host: str,
        port: int,
        concentrator_id: str,
        token: str,
        store: LinkStore,
        on_command: OnCommand | None = None,
        *,
        window: int = 8,
        min_backoff: float = 0.2,
        max_backoff: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.port = port
        self.concentrator_id = concentrator_id
        self._token = token
        self.store = store
        self.on_command = on_command
        self.window = window
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.clock = clock
        self.connected = False
        self.connections = 0
        self.last_error: str | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._writer: asyncio.StreamWriter | None = None
        self._acked_event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- what the concentrator calls -----------------------------------------------------------
    def submit(self, records: dict[str, Any]) -> int:
        """Store a batch of records durably and wake the link; returns the batch id."""
        bid = self.store.add_batch(records)
        self.notify()
        return bid

    def submit_result(
        self,
        command_id: int,
        status: str,
        ts: float,
        result: dict[str, Any] | None = None,
        error: str = "",
    ) -> int:
        """Report a command's outcome (``succeeded`` or ``failed``) in its own batch."""
        rec = {"command": command_id, "status": status, "ts": ts, "result": result or {}}
        if error:
            rec["error"] = error
        return self.submit({"results": [rec]})

    def notify(self) -> None:
        """New batches are in the store; safe to call from any thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not loop:
                loop.call_soon_threadsafe(self._wake.set)
                return
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._writer is not None:
            self._writer.close()

    async def drained(self, timeout: float) -> bool:
        """Wait until the store has no unacknowledged batch; False on timeout."""
        deadline = self.clock() + timeout
        while self.store.pending(0, 1):
            remaining = deadline - self.clock()
            if remaining <= 0:
                return False
            self._acked_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._acked_event.wait(), min(remaining, 0.2))
        return True

    # -- the loop ------------------------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        backoff = self.min_backoff
        while not self._stopping:
            try:
                await self._connect_once()
                backoff = self.min_backoff
            except (OSError, LinkError, asyncio.IncompleteReadError) as exc:
                self.last_error = str(exc)
                log.info("link to %s:%d: %s", self.host, self.port, exc)
            finally:
                self.connected = False
                self._writer = None
            if self._stopping:
                break
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), backoff)
            backoff = min(backoff * 2, self.max_backoff)

    async def _connect_once(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self._writer = writer
        session = ClientSession(self.concentrator_id, self._token, os.urandom(16), self.clock())
        in_flight: list[int] = []
        highest_sent = 0

        async def flush() -> None:
            data = session.data_to_send()
            if data:
                writer.write(data)
                await writer.drain()

        read_task: asyncio.Task[bytes] | None = None
        wake_task: asyncio.Task[bool] | None = None
        try:
            await flush()
            while not self._stopping:
                if session.ready and len(in_flight) < self.window:
                    for bid, records in self.store.pending(
                        highest_sent, self.window - len(in_flight)
                    ):
                        session.send_batch(bid, records, self.clock())
                        in_flight.append(bid)
                        highest_sent = bid
                    await flush()
                if read_task is None:
                    read_task = asyncio.ensure_future(reader.read(65536))
                if wake_task is None:
                    self._wake.clear()
                    wake_task = asyncio.ensure_future(self._wake.wait())
                timer = session.next_timer()
                timeout = None if timer is None else max(timer - self.clock(), 0.0)
                done, _ = await asyncio.wait(
                    {read_task, wake_task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    session.handle_timer(self.clock())
                    await flush()
                    continue
                if wake_task in done:
                    wake_task = None
                if read_task not in done:
                    continue
                data = read_task.result()
                read_task = None
                if not data:
                    raise ConnectionResetError("head-end closed the connection")
                for ev in session.receive_data(data, self.clock()):
                    if isinstance(ev, Connected):
                        self.connected = True
                        self.connections += 1
                        log.info("link to head-end up (%s)", self.concentrator_id)
                    elif isinstance(ev, BatchAcked):
                        if ev.rejected is not None:
                            log.warning("head-end rejected batch %d: %s", ev.batch_id, ev.rejected)
                        self.store.acknowledged(ev.batch_id, ev.rejected)
                        if ev.batch_id in in_flight:
                            in_flight.remove(ev.batch_id)
                        self._acked_event.set()
                    elif isinstance(ev, CommandReceived):
                        if self.store.accept_command(ev.command) and self.on_command is not None:
                            res = self.on_command(ev.command)
                            if inspect.isawaitable(res):
                                await res
                        session.ack_command(int(ev.command["id"]), self.clock())
                await flush()
        finally:
            for task in (read_task, wake_task):
                if task is not None:
                    task.cancel()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
