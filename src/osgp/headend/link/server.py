"""The head-end's side of the concentrator link over TCP (asyncio around :class:`ServerSession`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, select, update

from osgp.headend.commands import claim_pending, mark_delivered
from osgp.headend.db import models as m
from osgp.headend.ingest import Ingestor, IngestResult
from osgp.headend.link.protocol import (
    Authenticated,
    BatchReceived,
    CommandAcked,
    LinkError,
    ServerSession,
)
from osgp.headend.records import Batch

__all__ = ["DEFAULT_LINK_PORT", "LinkServer"]

log = logging.getLogger("osgp.headend.link")

#: TCP port of the concentrator link (our choice; OSGP defines none for this interface).
DEFAULT_LINK_PORT = 4059

OnIngested = Callable[[str, Batch, IngestResult], None]


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"records.{loc}: {err['msg']}")
    return "; ".join(parts)


class _Conn:
    def __init__(self, session: ServerSession, writer: asyncio.StreamWriter) -> None:
        self.session = session
        self.writer = writer
        self.lock = asyncio.Lock()

    async def flush(self) -> None:
        data = self.session.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()


class LinkServer:
    """Accepts concentrators, stores their batches, delivers their commands.

    ``on_ingested(concentrator_id, batch, result)`` runs after each newly stored batch and
    ``on_status(concentrator_id, "online" | "offline")`` when a concentrator comes or goes (the
    service publishes both to MQTT). ``clock`` gives the session timers' time."""

    def __init__(
        self,
        engine: Engine,
        *,
        on_ingested: OnIngested | None = None,
        on_status: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.ingestor = Ingestor(engine)
        self.on_ingested = on_ingested
        self.on_status = on_status
        self.clock = clock
        self._server: asyncio.Server | None = None
        self._active: dict[str, _Conn] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.batches_received = 0
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = DEFAULT_LINK_PORT) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._handle, host, port)
        bound: int = self._server.sockets[0].getsockname()[1]
        log.info("concentrator link listening on %s:%d", host, bound)
        return bound

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for conn in list(self._active.values()):
                conn.writer.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    @property
    def connected(self) -> list[str]:
        return sorted(self._active)

    def notify_commands(self, concentrator_id: str) -> None:
        """Thread-safe: commands were queued for ``concentrator_id``; send them if it is online."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(
            lambda: asyncio.ensure_future(self._send_pending(concentrator_id))
        )

    # -- database ------------------------------------------------------------------------------
    def _token(self, cid: str) -> str | None:
        with self.engine.connect() as conn:
            token: str | None = conn.execute(
                select(m.Concentrator.link_token).where(m.Concentrator.id == cid)
            ).scalar()
            return token

    def _set_status(self, cid: str, status: str, address: str = "") -> None:
        values: dict[str, Any] = {"status": status, "last_seen": m.now_utc()}
        if address:
            values["address"] = address
        with self.engine.begin() as conn:
            conn.execute(update(m.Concentrator).where(m.Concentrator.id == cid).values(**values))
        if self.on_status is not None:
            try:
                self.on_status(cid, status)
            except Exception:
                log.exception("on_status callback failed")

    async def _send_pending(self, cid: str) -> None:
        conn = self._active.get(cid)
        if conn is None:
            return
        async with conn.lock:
            cmds = await asyncio.to_thread(claim_pending, self.engine, cid)
            for cmd in cmds:
                conn.session.send_command(cmd, self.clock())
            with contextlib.suppress(ConnectionError):
                await conn.flush()

    # -- one connection ------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            pass  # server stopping
        finally:
            self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        address = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else ""
        session = ServerSession(self._token_sync, os.urandom(16), self.clock())
        conn = _Conn(session, writer)
        cid: str | None = None
        try:
            while True:
                timer = session.next_timer()
                timeout = None if timer is None else max(timer - self.clock(), 0.0)
                try:
                    data = await asyncio.wait_for(reader.read(65536), timeout)
                except TimeoutError:
                    session.handle_timer(self.clock())
                    await conn.flush()
                    continue
                if not data:
                    break
                for ev in session.receive_data(data, self.clock()):
                    if isinstance(ev, Authenticated):
                        cid = ev.concentrator_id
                        old = self._active.get(cid)
                        if old is not None:
                            # A concentrator that reconnects replaces its stale connection.
                            old.writer.close()
                        self._active[cid] = conn
                        await asyncio.to_thread(self._set_status, cid, "online", address)
                        await conn.flush()
                        await self._send_pending(cid)
                    elif isinstance(ev, BatchReceived):
                        assert cid is not None
                        await self._batch(conn, cid, ev)
                    elif isinstance(ev, CommandAcked):
                        assert cid is not None
                        await asyncio.to_thread(mark_delivered, self.engine, cid, ev.command_id)
                async with conn.lock:
                    await conn.flush()
        except LinkError as err:
            log.warning("link %s (%s): %s", address, cid or "?", err)
            session.fail(err)
            with contextlib.suppress(ConnectionError):
                await conn.flush()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            # E.g. the database is unreachable: nothing was acknowledged, so the concentrator
            # keeps its batches; tell it to back off and retry.
            log.exception("link %s (%s): head-end failure", address, cid or "?")
            session.fail(LinkError("internal", "head-end could not store the data; retry later"))
            with contextlib.suppress(Exception):
                await conn.flush()
        finally:
            if cid is not None and self._active.get(cid) is conn:
                del self._active[cid]
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self._set_status, cid, "offline")
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _token_sync(self, cid: str) -> str | None:
        # Runs inside receive_data (sans-IO core calls back); a short indexed lookup.
        return self._token(cid)

    async def _batch(self, conn: _Conn, cid: str, ev: BatchReceived) -> None:
        try:
            batch = Batch.model_validate(ev.records)
        except ValidationError as exc:
            # Resending would not help: acknowledge as rejected so the concentrator moves on.
            log.warning("batch %d from %s rejected: %s", ev.batch_id, cid, exc)
            conn.session.ack(ev.batch_id, self.clock(), rejected=_validation_message(exc))
            return
        result = await asyncio.to_thread(self.ingestor.ingest, cid, batch, ev.batch_id)
        # Ack only after the batch's transaction committed: a lost ack means a resend, never a loss.
        async with conn.lock:
            conn.session.ack(ev.batch_id, self.clock(), duplicate=result.duplicate)
            await conn.flush()
        self.batches_received += 1
        if not result.duplicate and self.on_ingested is not None:
            try:
                self.on_ingested(cid, batch, result)
            except Exception:  # a subscriber must never break the link
                log.exception("on_ingested callback failed")
