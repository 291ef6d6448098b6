"""A Jupyter server extension that sets TCP_NODELAY on kernel websockets.

Jupyter server leaves Nagle's algorithm on for the kernel websocket, so a
small message (a comm frame ack, a widget state change) can wait for the
peer's delayed ACK: ~45 ms per small message through JupyterLab
(docs/troubleshooting.md). The comm transport exchanges small messages
for every frame. The extension is enabled by the config file the package
installs (``etc/jupyter/jupyter_server_config.d/decart_widgets.json``);
without it nothing changes. ``DECART_WIDGETS_NODELAY=0`` turns it off (for
A/B benchmarks).
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["patch_kernel_websocket"]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "decart_widgets._jupyter_nodelay"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    if patch_kernel_websocket():
        serverapp.log.info("decart-widgets: TCP_NODELAY on kernel websockets")


def patch_kernel_websocket() -> bool:
    """Patch the kernel websocket handler once; False when switched off."""
    if os.environ.get("DECART_WIDGETS_NODELAY", "1") == "0":
        return False
    from jupyter_server.services.kernels.websocket import KernelWebsocketHandler

    if getattr(KernelWebsocketHandler, "_decart_nodelay", False):
        return True
    original = KernelWebsocketHandler.open

    async def open(self: Any, *args: Any, **kwargs: Any) -> Any:
        self.set_nodelay(True)
        return await original(self, *args, **kwargs)

    KernelWebsocketHandler.open = open  # type: ignore[method-assign]
    KernelWebsocketHandler._decart_nodelay = True  # type: ignore[attr-defined]
    return True
