"""Infrastructure of our own that a fault test may kill, restart or cut.

Never the system's services: the PostgreSQL cluster and the mosquitto broker here live in a
temporary directory on a free port, so restarting them disturbs no one else.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "FaultSetupError",
    "HeadendProcess",
    "LinkProxy",
    "LoopThread",
    "PrivateMosquitto",
    "PrivatePostgres",
    "free_port",
    "wait_port",
    "wait_until",
]

T = TypeVar("T")


class FaultSetupError(RuntimeError):
    """A tool the fault needs (initdb, mosquitto, ...) is missing or would not start."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return True
        time.sleep(0.05)
    return False


def wait_until(pred: Any, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


class LoopThread:
    """An asyncio loop in a daemon thread: servers and links run there while the simulation
    (synchronous) runs in the caller's thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def spawn(self, coro: Awaitable[Any]) -> Any:
        async def wrap() -> Any:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrap(), self.loop)

    def close(self) -> None:
        async def cancel_all() -> None:
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.call(cancel_all(), 10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class LinkProxy:
    """A TCP relay between a concentrator and its head-end that can cut the link: ``cut()``
    drops every relayed connection and refuses new ones (accepted, then closed at once) until
    ``restore()``. Runs on a :class:`LoopThread`'s loop."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.is_cut = False
        self.refused = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        await self.cut()
        if self._server is not None:
            self._server.close()

    async def cut(self) -> None:
        self.is_cut = True
        for w in list(self._writers):
            w.close()
        self._writers.clear()

    async def restore(self) -> None:
        self.is_cut = False

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            self.refused += 1
            writer.close()
            return
        try:
            up_r, up_w = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_w))

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while not self.is_cut:
                    data = await r.read(65536)
                    if not data:
                        break
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                w.close()

        try:
            await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))
        except asyncio.CancelledError:
            pass  # the loop is shutting down: the sockets close with it
        finally:
            self._writers.difference_update((writer, up_w))


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the ``postgres`` user then."""
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser")
    if runuser is None:
        raise FaultSetupError("running as root and no runuser to become 'postgres'")
    return [runuser, "-u", "postgres", "--", *cmd]


class PrivatePostgres:
    """A throw-away PostgreSQL cluster (initdb + pg_ctl) in ``base`` on a free port."""

    def __init__(self, base: Path) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise FaultSetupError(
                "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb); "
                "install the postgresql package"
            )
        self.bin = Path(bins[-1]).parent
        self.base = base
        self.data = base / "pgdata"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._own_base = False

    def _run(self, *args: str, timeout: float = 60) -> None:
        res = subprocess.run(
            _as_postgres([str(self.bin / args[0]), *args[1:]]),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if res.returncode != 0:
            raise FaultSetupError(f"{args[0]} failed: {res.stderr.strip() or res.stdout.strip()}")

    def init(self) -> None:
        if os.geteuid() == 0:
            # the cluster belongs to 'postgres', which must reach it: a private directory of
            # its own directly under the system temp dir (test dirs above are often 0700)
            self.base = Path(tempfile.mkdtemp(prefix="osgp-pg-"))
            self.data = self.base / "pgdata"
            self._own_base = True
            shutil.chown(self.base, "postgres", "postgres")
        else:
            self.base.mkdir(parents=True, exist_ok=True)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.base / "log"),
                  "-w", "start")  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        """``immediate`` is a crash (no shutdown checkpoint): recovery replays the WAL."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        if self._own_base:
            shutil.rmtree(self.base, ignore_errors=True)


class PrivateMosquitto:
    """A mosquitto broker of our own on a free port, in memory only; ``kill()`` is a SIGKILL
    (no clean-up: sessions, queued and retained messages are gone)."""

    def __init__(self, base: Path) -> None:
        exe = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        if exe is None:
            raise FaultSetupError("the mosquitto binary is needed (apt-get install mosquitto)")
        self.exe = exe
        self.port = free_port()
        base.mkdir(parents=True, exist_ok=True)
        self.conf = base / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if not wait_port(self.port, 10):
            raise FaultSetupError("private mosquitto did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def close(self) -> None:
        self.kill()


class HeadendProcess:
    """``osgp headend serve`` as a real process (so that a SIGKILL is a real crash)."""

    def __init__(self, db_url: str, link_port: int, log: Path) -> None:
        self.db_url = db_url
        self.link_port = link_port
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "osgp", "headend", "serve", "--db", self.db_url,
               "--listen", "127.0.0.1:0", "--link", f"127.0.0.1:{self.link_port}"]  # fmt: skip
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        if not wait_port(self.link_port, 60):
            self.kill()
            raise FaultSetupError(f"head-end did not listen on {self.link_port}; see {self.log}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def close(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
            self.proc = None
