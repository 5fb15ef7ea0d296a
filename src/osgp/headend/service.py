"""The head-end service: database + concentrator link + MQTT + REST API in one process.

``osgp headend serve`` runs it; the demo and tests embed :class:`HeadendService` directly::

    svc = HeadendService("sqlite:///headend.db", mqtt_url=None, api_port=0, link_port=0)
    await svc.start()          # migrates the database first
    ...                        # svc.api_url, svc.link_port
    await svc.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from osgp.headend.api import ApiContext, create_app
from osgp.headend.db.session import make_engine, upgrade
from osgp.headend.ingest import IngestResult
from osgp.headend.link.server import DEFAULT_LINK_PORT, LinkServer
from osgp.headend.records import Batch
from osgp.headend.ui import mount_ui

__all__ = ["DEFAULT_API_PORT", "HeadendService", "parse_listen"]

log = logging.getLogger("osgp.headend")

DEFAULT_API_PORT = 8080


def parse_listen(value: str, default_port: int) -> tuple[str, int]:
    """``HOST:PORT``, ``HOST`` or ``:PORT`` -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep:
        return value or "127.0.0.1", default_port
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"listen address {value!r}: port {port!r} is not a number") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"listen address {value!r}: port must be 0..65535")
    return host.strip("[]") or "127.0.0.1", number


class HeadendService:
    def __init__(
        self,
        db_url: str,
        *,
        mqtt_url: str | None = None,
        mqtt_prefix: str = "osgp",
        api_host: str = "127.0.0.1",
        api_port: int = DEFAULT_API_PORT,
        link_host: str = "0.0.0.0",
        link_port: int = DEFAULT_LINK_PORT,
        static_keys: dict[str, str] | None = None,
        migrate: bool = True,
    ) -> None:
        self.engine = make_engine(db_url)
        if migrate:
            upgrade(self.engine)
        self.mqtt: Any = None
        if mqtt_url:
            from osgp.headend.mqtt import MqttPublisher

            self.mqtt = MqttPublisher(mqtt_url, prefix=mqtt_prefix)
        self.link = LinkServer(self.engine, on_ingested=self._ingested, on_status=self._status)
        self.context = ApiContext(
            self.engine,
            static_keys=static_keys,
            notify_commands=self.link.notify_commands,
            link_connected=lambda: self.link.connected,
            mqtt_connected=(lambda: bool(self.mqtt.connected)) if self.mqtt is not None else None,
        )
        self.app = create_app(self.context)
        mount_ui(self.app)  # the web UI at /ui/ (osgp.headend.ui)
        self.api_host, self.api_port = api_host, api_port
        self.link_host, self.link_port = link_host, link_port
        self._uvicorn: Any = None
        self._api_task: asyncio.Task[None] | None = None

    @property
    def api_url(self) -> str:
        host = "127.0.0.1" if self.api_host in ("0.0.0.0", "") else self.api_host
        return f"http://{host}:{self.api_port}"

    def _ingested(self, cid: str, batch: Batch, result: IngestResult) -> None:
        if self.mqtt is not None:
            self.mqtt.publish_batch(cid, batch)

    def _status(self, cid: str, status: str) -> None:
        if self.mqtt is not None:
            self.mqtt.publish_concentrator_state(cid, status, time.time())

    async def start(self) -> None:
        import uvicorn

        if self.mqtt is not None:
            self.mqtt.start()
        self.link_port = await self.link.start(self.link_host, self.link_port)
        config = uvicorn.Config(
            self.app, host=self.api_host, port=self.api_port, log_level="warning", lifespan="off"
        )
        self._uvicorn = uvicorn.Server(config)
        self._api_task = asyncio.create_task(self._uvicorn.serve())
        while not self._uvicorn.started:
            if self._api_task.done():
                self._api_task.result()  # raises the startup error (e.g. port in use)
                raise RuntimeError("REST API server stopped during startup")
            await asyncio.sleep(0.02)
        sock = self._uvicorn.servers[0].sockets[0]
        self.api_port = sock.getsockname()[1]
        log.info("head-end API on %s, concentrator link on port %d", self.api_url, self.link_port)

    async def stop(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._api_task is not None:
            with contextlib.suppress(Exception):
                await self._api_task
        await self.link.stop()
        if self.mqtt is not None:
            self.mqtt.stop()
        self.engine.dispose()

    async def serve_forever(self) -> None:
        await self.start()
        try:
            assert self._api_task is not None
            await self._api_task
        finally:
            await self.stop()
