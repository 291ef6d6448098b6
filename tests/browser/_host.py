"""A fast plain-page host for the widget: a tiny aiohttp server and a page
that implements the anywidget model interface (get/set/save_changes/on/off/
send) over a websocket to the widget's Python object in the test process.

The widget gets a :class:`BridgeComm` (installed as ``comm.create_comm``
while the host runs), so the real ipywidgets state sync and custom-message
code runs; messages from the page are handled on one "shell" thread, as a
kernel would. Not Jupyter itself: the JupyterLab tests cover that.

Wire format (both directions, binary websocket messages): 4-byte big-endian
length of a JSON header, the header (``{"data": ..., "buffers": [len, ...]}``),
then the buffers back to back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import struct
import threading
from pathlib import Path
from typing import Any

import comm
from aiohttp import WSMsgType, web
from comm.base_comm import BaseComm

PAGE = (Path(__file__).parent / "page_host.html").read_text()


def pack(data: Any, buffers: list[Any] | None = None) -> bytes:
    bufs = [bytes(memoryview(b).cast("B")) for b in (buffers or [])]
    header = json.dumps({"data": data, "buffers": [len(b) for b in bufs]}, default=_json_default).encode()
    return struct.pack(">I", len(header)) + header + b"".join(bufs)


def unpack(raw: bytes) -> tuple[Any, list[bytes]]:
    (n,) = struct.unpack(">I", raw[:4])
    header = json.loads(raw[4 : 4 + n])
    pos, bufs = 4 + n, []
    for size in header["buffers"]:
        bufs.append(raw[pos : pos + size])
        pos += size
    return header["data"], bufs


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "value"):
        return obj.value
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


class RecordingComm(BaseComm):
    """A comm that records every message the widget publishes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.published: list[tuple[str, Any, list[Any]]] = []
        self._lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any) -> None:
        with self._lock:
            self.published.append((msg_type, data, list(buffers or [])))
        self.forward(msg_type, data, list(buffers or []))

    def forward(self, msg_type: str, data: Any, buffers: list[Any]) -> None:
        pass

    def deliver(self, data: dict[str, Any], buffers: list[Any] | None = None) -> None:
        """A message from the frontend, as a kernel would hand it over."""
        self.handle_msg({"content": {"comm_id": self.comm_id, "data": data}, "buffers": buffers or []})


class BridgeComm(RecordingComm):
    host: PageHost | None = None

    def forward(self, msg_type: str, data: Any, buffers: list[Any]) -> None:
        if self.host is not None and msg_type == "comm_msg":
            self.host.broadcast(self.comm_id, data, buffers)


class PageHost:
    """Serve widgets to a browser page. ``start()``/``close()``, or a context manager."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._sockets: dict[str, set[web.WebSocketResponse]] = {}
        self.comms: dict[str, BridgeComm] = {}
        self._shell = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="fake-shell")
        self._saved_create_comm: Any = None
        self.port = 0

    # ------------------------------------------------------------- lifecycle
    def start(self) -> PageHost:
        ready = concurrent.futures.Future()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(ready))
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
                loop.close()

        self._thread = threading.Thread(target=run, name="page-host", daemon=True)
        self._thread.start()
        self.port = ready.result(10)
        self._saved_create_comm = comm.create_comm

        def create_comm(*args: Any, **kwargs: Any) -> BridgeComm:
            c = BridgeComm(*args, **kwargs)
            c.host = self
            self.comms[c.comm_id] = c
            return c

        comm.create_comm = create_comm
        return self

    async def _serve(self, ready: concurrent.futures.Future) -> None:
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/ws/{comm_id}", self._ws)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        ready.set_result(self._runner.addresses[0][1])

    async def _shutdown(self) -> None:
        for sockets in list(self._sockets.values()):
            for ws in list(sockets):
                await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def close(self) -> None:
        if self._saved_create_comm is not None:
            comm.create_comm = self._saved_create_comm
            self._saved_create_comm = None
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None
        self._shell.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> PageHost:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --------------------------------------------------------------- widgets
    def url(self, widget: Any) -> str:
        return f"http://127.0.0.1:{self.port}/?comm={widget.comm.comm_id}"

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        comm_id = request.match_info["comm_id"]
        c = self.comms.get(comm_id)
        ws = web.WebSocketResponse(max_msg_size=64 * 1024 * 1024)
        await ws.prepare(request)
        if c is None:
            await ws.close()
            return ws
        widget_state = await asyncio.get_running_loop().run_in_executor(self._shell, self._state_of, comm_id)
        await ws.send_bytes(pack({"method": "open", "state": widget_state}))
        self._sockets.setdefault(comm_id, set()).add(ws)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    data, bufs = unpack(msg.data)
                    self._shell.submit(self._deliver, c, data, bufs)
        finally:
            self._sockets.get(comm_id, set()).discard(ws)
        return ws

    @staticmethod
    def _deliver(c: BridgeComm, data: Any, bufs: list[bytes]) -> None:
        try:
            c.deliver(data, bufs)
        except Exception:  # noqa: BLE001 - a host must keep serving
            import traceback

            traceback.print_exc()

    def _state_of(self, comm_id: str) -> dict[str, Any]:
        from ipywidgets.widgets.widget import _instances

        return _instances[comm_id].get_state()

    def broadcast(self, comm_id: str, data: Any, buffers: list[Any]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        raw = pack(data, buffers)

        def send() -> None:
            for ws in list(self._sockets.get(comm_id, ())):
                if not ws.closed:
                    asyncio.ensure_future(ws.send_bytes(raw))

        try:
            loop.call_soon_threadsafe(send)
        except RuntimeError:
            pass
