"""The concentrator link: authentication, acks, commands, and cut connections."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from tests.headend.conftest import TOKEN
from tests.headend.sample import DAY0

from osgp.headend.db import models as m
from osgp.headend.link import HeadendLink, LinkServer, MemoryLinkStore, SqliteLinkStore
from osgp.headend.link.protocol import (
    IDLE_TIMEOUT,
    PING_INTERVAL,
    BatchAcked,
    BatchReceived,
    ClientSession,
    CommandAcked,
    CommandReceived,
    Connected,
    LinkError,
    ServerSession,
)


def tokens(cid: str) -> str | None:
    return TOKEN if cid == "dc1" else None


def pair(token: str = TOKEN, cid: str = "dc1") -> tuple[ClientSession, ServerSession]:
    return ClientSession(cid, token, os.urandom(16), 0.0), ServerSession(
        tokens, os.urandom(16), 0.0
    )


def shuttle(c: ClientSession, s: ServerSession, now: float = 0.0) -> tuple[list[Any], list[Any]]:
    """Move bytes both ways until quiet; returns (client events, server events)."""
    ce: list[Any] = []
    se: list[Any] = []
    while True:
        up, down = c.data_to_send(), s.data_to_send()
        if not up and not down:
            return ce, se
        if up:
            se += s.receive_data(up, now)
        if down:
            ce += c.receive_data(down, now)


def test_handshake_batch_ack_and_command_in_memory() -> None:
    c, s = pair()
    ce, se = shuttle(c, s)
    assert [type(e) for e in ce] == [Connected] and se[0].concentrator_id == "dc1"
    c.send_batch(1, {"reads": []}, 1.0)
    _, se = shuttle(c, s)
    assert se == [BatchReceived(1, {"reads": []})]
    s.ack(1, 1.0)
    s.send_command({"id": 5, "kind": "read", "device": "m1", "params": {}}, 1.0)
    ce, _ = shuttle(c, s)
    assert ce[0] == BatchAcked(1, False, None)
    assert isinstance(ce[1], CommandReceived) and ce[1].command["id"] == 5
    c.ack_command(5, 1.0)
    _, se = shuttle(c, s)
    assert se == [CommandAcked(5)]


def test_wrong_token_is_refused_and_told() -> None:
    c, s = pair(token="not-the-token")
    s.receive_data(c.data_to_send(), 0)
    c.receive_data(s.data_to_send(), 0)
    with pytest.raises(LinkError, match="unknown or wrong token") as err:
        s.receive_data(c.data_to_send(), 0)
    s.fail(err.value)
    with pytest.raises(LinkError, match="refused the handshake"):
        c.receive_data(s.data_to_send(), 0)


def test_unknown_concentrator_gets_the_same_refusal() -> None:
    c, s = pair(cid="dc-unknown")
    s.receive_data(c.data_to_send(), 0)
    c.receive_data(s.data_to_send(), 0)
    with pytest.raises(LinkError, match="unknown or wrong token"):
        s.receive_data(c.data_to_send(), 0)


def test_tampered_frame_is_detected() -> None:
    c, s = pair()
    shuttle(c, s)
    c.send_batch(1, {"reads": [{"device": "m1", "register": "e", "ts": 1, "value": 10}]}, 1.0)
    frame = bytearray(c.data_to_send())
    frame[frame.index(b"10}")] = ord("9")  # change a value in transit
    with pytest.raises(LinkError, match="bad tag"):
        s.receive_data(bytes(frame), 1.0)


def test_replayed_frame_is_detected() -> None:
    c, s = pair()
    shuttle(c, s)
    c.send_batch(1, {}, 1.0)
    frame = c.data_to_send()
    s.receive_data(frame, 1.0)
    with pytest.raises(LinkError, match="bad tag"):
        s.receive_data(frame, 1.0)


def test_ping_when_idle_and_timeout_when_silent() -> None:
    c, s = pair()
    shuttle(c, s)
    assert c.next_timer() == PING_INTERVAL
    c.handle_timer(PING_INTERVAL)
    s.receive_data(c.data_to_send(), PING_INTERVAL)  # ping -> pong
    c.receive_data(s.data_to_send(), PING_INTERVAL)
    with pytest.raises(LinkError, match="timeout"):
        s.handle_timer(PING_INTERVAL + IDLE_TIMEOUT + 1)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_link_error(data: bytes) -> None:
    s = ServerSession(tokens, b"\x00" * 16, 0.0)
    with contextlib.suppress(LinkError):
        s.receive_data(data, 0.0)
    c = ClientSession("dc1", TOKEN, b"\x01" * 16, 0.0)
    with contextlib.suppress(LinkError):
        c.receive_data(data, 0.0)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["type", "id", "nonce", "records", "proof", "version", "concentrator"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=40), st.booleans()),
    )
)
def test_random_json_frames_raise_only_link_error(msg: dict[str, Any]) -> None:
    import json
    import struct

    body = json.dumps(msg).encode()
    s = ServerSession(tokens, b"\x00" * 16, 0.0)
    with contextlib.suppress(LinkError):
        s.receive_data(struct.pack(">I", len(body)) + body, 0.0)


# -- over TCP -----------------------------------------------------------------------------------
class CuttingProxy:
    """Forwards TCP between the link client and server; connection ``n`` is cut after
    ``budgets[n] = (client->server bytes, server->client bytes)`` (None = unlimited)."""

    def __init__(self, target_port: int, budgets: list[tuple[int | None, int | None]]) -> None:
        self.target_port = target_port
        self.budgets = budgets
        self.connections = 0
        self.cuts = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _handle(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        n = self.connections
        self.connections += 1
        up, down = self.budgets[n] if n < len(self.budgets) else (None, None)
        sr, sw = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(
            r: asyncio.StreamReader, w: asyncio.StreamWriter, budget: int | None
        ) -> None:
            try:
                while True:
                    data = await r.read(4096)
                    if not data:
                        break
                    if budget is not None:
                        if len(data) >= budget:
                            w.write(data[:budget])
                            await w.drain()
                            self.cuts += 1
                            break
                        budget -= len(data)
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                for wr in (cw, sw):
                    wr.close()

        await asyncio.gather(pipe(cr, sw, up), pipe(sr, cw, down))

    async def stop(self) -> None:
        self.server.close()


def reads_batch(k: int, per: int = 10) -> dict[str, Any]:
    return {
        "reads": [
            {
                "device": f"m{j}",
                "register": "energy_import_wh",
                "ts": DAY0 + 900 * k,
                "value": float(k * per + j),
            }
            for j in range(per)
        ]
    }


def db_count(engine: Engine, model: type[m.Base]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


async def _cut_connection_run(engine: Engine, store: Any) -> tuple[HeadendLink, CuttingProxy]:
    server = LinkServer(engine)
    port = await server.start("127.0.0.1", 0)
    # Connection 0 dies in the middle of the uploads; connection 1 loses the head-end's acks
    # (the head-end stored batches the concentrator does not know about); then the line is good.
    proxy = CuttingProxy(port, [(2500, None), (None, 400), (None, None)])
    pport = await proxy.start()
    link = HeadendLink(
        "127.0.0.1", pport, "dc1", TOKEN, store, min_backoff=0.05, max_backoff=0.2, window=4
    )
    task = asyncio.create_task(link.run())
    for k in range(30):
        link.submit(reads_batch(k))
    try:
        assert await link.drained(30), f"not drained: {link.last_error}"
    finally:
        await link.stop()
        await task
        await proxy.stop()
        await server.stop()
    return link, proxy


def test_cut_connections_lose_nothing_and_store_nothing_twice(with_dc1: Engine) -> None:
    store = MemoryLinkStore()
    link, proxy = asyncio.run(_cut_connection_run(with_dc1, store))
    assert proxy.cuts >= 2 and link.connections >= 3
    assert db_count(with_dc1, m.RegisterRead) == 300  # 30 batches x 10 reads, each once
    assert db_count(with_dc1, m.LinkBatch) == 30
    assert sorted(store.acked) == list(range(1, 31)) and not store.batches
    with with_dc1.connect() as conn:
        values = sorted(conn.execute(select(m.RegisterRead.value)).scalars())
    assert values == [float(v) for v in range(300)]


def test_sqlite_store_survives_a_concentrator_restart(with_dc1: Engine, tmp_path: Any) -> None:
    path = str(tmp_path / "outbox.db")
    first = SqliteLinkStore(path)
    for k in range(5):
        first.add_batch(reads_batch(k, per=2))
    first.acknowledged(1, None)
    first.close()
    again = SqliteLinkStore(path)  # "after the restart"
    assert [b for b, _ in again.pending(0, 100)] == [2, 3, 4, 5]
    assert again.add_batch({}) == 6  # ids keep increasing across restarts

    async def run() -> None:
        server = LinkServer(with_dc1)
        port = await server.start("127.0.0.1", 0)
        link = HeadendLink("127.0.0.1", port, "dc1", TOKEN, again, min_backoff=0.05)
        task = asyncio.create_task(link.run())
        assert await link.drained(10)
        await link.stop()
        await task
        await server.stop()

    asyncio.run(run())
    assert again.pending_count() == 0
    assert db_count(with_dc1, m.RegisterRead) == 8  # batches 2..5, two reads each


def test_commands_flow_down_once_and_results_flow_up(with_dc1: Engine, tmp_path: Any) -> None:
    with with_dc1.begin() as conn:
        conn.execute(
            m.Command.__table__.insert().values(
                concentrator_id="dc1",
                device_id="m1",
                kind="disconnect",
                params={},
                status="queued",
                created_at=m.now_utc(),
                created_by="t",
                error="",
            )
        )
    store = SqliteLinkStore(str(tmp_path / "dc1.db"))
    handled: list[dict[str, Any]] = []

    async def run() -> None:
        server = LinkServer(with_dc1)
        port = await server.start("127.0.0.1", 0)
        link = HeadendLink(
            "127.0.0.1", port, "dc1", TOKEN, store, on_command=handled.append, min_backoff=0.05
        )
        task = asyncio.create_task(link.run())
        for _ in range(100):
            if handled:
                break
            await asyncio.sleep(0.05)
        # A second command while connected arrives without a reconnect.
        with with_dc1.begin() as conn:
            conn.execute(
                m.Command.__table__.insert().values(
                    concentrator_id="dc1",
                    kind="time_sync",
                    device_id="m1",
                    params={"time": 5.0},
                    status="queued",
                    created_at=m.now_utc(),
                    created_by="t",
                    error="",
                )
            )
        server.notify_commands("dc1")
        for _ in range(100):
            if len(handled) == 2:
                break
            await asyncio.sleep(0.05)
        # The concentrator executed it and reports the outcome.
        for cmd in handled:
            link.submit_result(cmd["id"], "succeeded", DAY0, {"relay": "open"})
        assert await link.drained(10)
        # Reconnect: nothing is offered again (both were acknowledged as delivered).
        await link.stop()
        await task
        link2 = HeadendLink(
            "127.0.0.1", port, "dc1", TOKEN, store, on_command=handled.append, min_backoff=0.05
        )
        task2 = asyncio.create_task(link2.run())
        await asyncio.sleep(0.3)
        await link2.stop()
        await task2
        await server.stop()

    asyncio.run(run())
    assert [c["kind"] for c in handled] == ["disconnect", "time_sync"]
    with with_dc1.connect() as conn:
        rows = conn.execute(select(m.Command.status, m.Command.result).order_by(m.Command.id)).all()
    assert [tuple(r) for r in rows] == [("succeeded", {"relay": "open"})] * 2


def test_repeated_command_is_not_handled_twice() -> None:
    store = MemoryLinkStore()
    cmd = {"id": 3, "kind": "read", "device": "m1", "params": {}}
    assert store.accept_command(cmd) is True
    assert store.accept_command(dict(cmd)) is False


def test_invalid_batch_is_rejected_with_the_field_named(with_dc1: Engine) -> None:
    store = MemoryLinkStore()

    async def run() -> None:
        server = LinkServer(with_dc1)
        port = await server.start("127.0.0.1", 0)
        link = HeadendLink("127.0.0.1", port, "dc1", TOKEN, store, min_backoff=0.05)
        task = asyncio.create_task(link.run())
        link.submit({"reads": [{"device": "m1", "register": "e", "ts": "yesterday", "value": 1}]})
        link.submit(reads_batch(1, per=1))
        assert await link.drained(10)
        await link.stop()
        await task
        await server.stop()

    asyncio.run(run())
    assert "records.reads.0.ts" in store.rejected[1]
    assert 2 not in store.rejected and db_count(with_dc1, m.RegisterRead) == 1


def test_head_end_database_failure_is_retried_without_loss(with_dc1: Engine) -> None:
    store = MemoryLinkStore()

    async def run() -> None:
        server = LinkServer(with_dc1)
        real = server.ingestor.ingest
        failures = {"left": 2}

        def flaky(*args: Any, **kwargs: Any) -> Any:
            if failures["left"] > 0:
                failures["left"] -= 1
                raise RuntimeError("database is down")
            return real(*args, **kwargs)

        server.ingestor.ingest = flaky  # type: ignore[method-assign]
        port = await server.start("127.0.0.1", 0)
        link = HeadendLink(
            "127.0.0.1", port, "dc1", TOKEN, store, min_backoff=0.05, max_backoff=0.1
        )
        task = asyncio.create_task(link.run())
        for k in range(5):
            link.submit(reads_batch(k, per=3))
        assert await link.drained(20)
        assert link.connections >= 3 and "retry later" in (link.last_error or "")
        await link.stop()
        await task
        await server.stop()

    asyncio.run(run())
    assert db_count(with_dc1, m.RegisterRead) == 15
    assert db_count(with_dc1, m.LinkBatch) == 5
