"""The Jupyter server extension sets TCP_NODELAY on kernel websockets."""

import asyncio
import json
import sys
from pathlib import Path

from decart_widgets import _jupyter_nodelay


def test_patch_sets_nodelay_before_the_original_open(monkeypatch):
    from jupyter_server.services.kernels.websocket import KernelWebsocketHandler

    calls = []

    async def fake_open(self, kernel_id):
        calls.append(("open", kernel_id))

    monkeypatch.setattr(KernelWebsocketHandler, "open", fake_open)
    monkeypatch.delattr(KernelWebsocketHandler, "_decart_nodelay", raising=False)
    assert _jupyter_nodelay.patch_kernel_websocket()
    assert _jupyter_nodelay.patch_kernel_websocket()  # idempotent: wrapped once

    class Handler:
        def set_nodelay(self, value):
            calls.append(("nodelay", value))

    asyncio.run(KernelWebsocketHandler.open(Handler(), "k1"))
    assert calls == [("nodelay", True), ("open", "k1")]


def test_switch_off(monkeypatch):
    monkeypatch.setenv("DECART_WIDGETS_NODELAY", "0")
    assert not _jupyter_nodelay.patch_kernel_websocket()


def test_installed_config_enables_the_extension():
    config = Path(sys.prefix) / "etc/jupyter/jupyter_server_config.d/decart_widgets.json"
    assert config.exists(), "the package's shared-data config was not installed"
    enabled = json.loads(config.read_text())["ServerApp"]["jpserver_extensions"]
    assert enabled == {"decart_widgets._jupyter_nodelay": True}
    points = _jupyter_nodelay._jupyter_server_extension_points()
    assert points == [{"module": "decart_widgets._jupyter_nodelay"}]
