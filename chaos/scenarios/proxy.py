"""A small asyncio TCP fault proxy on 127.0.0.1 with toxiproxy's semantics: latency, hang, reset, down.

The proxy forwards to an upstream (the application's Redis). Its mode is the
``reliability.faults`` entry named after the proxy (``redis:app``): ``latency_ms`` delays every
chunk, ``error="hang"`` stops forwarding (connections stay open, nothing moves), ``"reset"``
closes connections at once, ``"connect"`` (down) refuses new ones. With no fault it is a plain
pipe, so removing the fault (or its TTL running out, or the kill switch) heals it everywhere.
It is never put on the broker's path: the drill needs the broker to be stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from reliability import faults


class FaultProxy:
    def __init__(self, *, name: str, upstream_host: str, upstream_port: int, listen_port: int = 0) -> None:
        self.name, self.upstream = name, (upstream_host, upstream_port)
        self.listen_port = listen_port
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server: asyncio.base_events.Server | None = None
        self.thread: threading.Thread | None = None
        self.ready = threading.Event()
        self.connections = 0

    @property
    def port(self) -> int:
        return self.server.sockets[0].getsockname()[1] if self.server else 0

    def _fault(self):
        return faults.fault_for(self.name, fallback=False)

    async def _pipe(self, reader, writer, peer_writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                while True:
                    fault = self._fault()
                    if fault is None or fault.error != "hang":
                        break
                    await asyncio.sleep(0.05)  # hung: hold the bytes until the fault goes
                if fault is not None and fault.error in ("reset", "connect"):
                    break
                if fault is not None and fault.latency_ms:
                    await asyncio.sleep(fault.latency_ms / 1000)
                peer_writer.write(data)
                await peer_writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, peer_writer):
                with contextlib.suppress(Exception):
                    w.close()

    async def _handle(self, reader, writer):
        fault = self._fault()
        if fault is not None and fault.error in ("reset", "connect"):
            writer.transport.abort() if fault.error == "reset" else writer.close()
            return
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, writer, up_writer), self._pipe(up_reader, up_writer, writer))

    def start(self) -> FaultProxy:
        def run():
            self.loop = asyncio.new_event_loop()
            self.server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.listen_port))
            self.ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name=f"fault-proxy-{self.name}", daemon=True)
        self.thread.start()
        self.ready.wait(10)
        return self

    def stop(self) -> None:
        if self.loop is None:
            return

        async def close():
            self.server.close()
            for task in [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
                task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop = None
