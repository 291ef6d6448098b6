"""Helpers shared by the server test modules."""

from __future__ import annotations

import asyncio
import base64
import socket
import threading

import cv2
import numpy as np
from _raw_client import PatternTrack, RawClient

from decart_widgets import protocol
from decart_widgets.common.stamp import read_stamp, stamp_rect

SERVER_THREAD_PREFIXES = ("decart-local-server", "decart-server-")


def server_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(SERVER_THREAD_PREFIXES)]


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def png_base64(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 30, 160)) -> str:
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:] = color
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return base64.b64encode(buf.tobytes()).decode()


async def streaming_client(url: str, *, prompt: str | None = None, width: int = 320, height: int = 240,
                           frames: int = 3, **media: object) -> RawClient:
    """A RawClient that (optionally) set a prompt, offered a PatternTrack and got ``frames`` frames."""
    client = await RawClient.open(url)
    try:
        if prompt is not None:
            await client.send(protocol.Prompt(prompt))
            await client.wait_for("prompt_ack", where=lambda m: m["prompt"] == prompt)
        client.source = PatternTrack(width, height)  # type: ignore[attr-defined]
        await client.start_media(client.source, **media)  # type: ignore[attr-defined,arg-type]
        if frames:
            await client.wait_frames(frames, 10)
    except BaseException:
        await client.close()
        raise
    return client


def center_diff(received: np.ndarray, expected: np.ndarray) -> float:
    """Mean absolute difference of the central half of two frames."""
    h, w = received.shape[:2]
    sl = (slice(h // 4, 3 * h // 4), slice(w // 4, 3 * w // 4))
    return float(np.abs(received[sl].astype(np.int16) - expected[sl].astype(np.int16)).mean())


def stamped_index(frame: np.ndarray) -> int | None:
    return read_stamp(frame)


def strip_of(frame: np.ndarray) -> np.ndarray:
    sw, sh = stamp_rect(frame.shape[1], frame.shape[0])
    return frame[:sh, :sw]


async def settle_tasks(timeout: float = 3.0) -> list[asyncio.Task[object]]:
    """Tasks other than the current one still pending after ``timeout``."""
    current = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    if pending:
        await asyncio.wait(pending, timeout=timeout)
    return [t for t in pending if not t.done()]
