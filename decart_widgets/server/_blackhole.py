"""``Faults.block_media``: the server's media never connects, as when UDP is blocked.

A blocked peer connection gets none of the client's candidates (so it never
sends a connectivity check the client could answer or learn from) and
advertises candidates whose port is a UDP socket that nobody reads: the
client's checks arrive and are never answered, exactly what a firewall that
drops UDP looks like from the client. The control socket is untouched.
"""

from __future__ import annotations

import logging
import re
import socket

__all__ = ["Blackhole", "without_candidates"]

log = logging.getLogger(__name__)

_CANDIDATE = re.compile(r"^(a=candidate:\S+ \d+ udp \d+ )(\S+) (\d+)( typ .*)$", re.IGNORECASE)


class Blackhole:
    """One UDP socket on every IPv4 interface that is never read. Opened on
    first use, closed with the server; idempotent."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None

    @property
    def port(self) -> int:
        if self._sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("0.0.0.0", 0))
            self._sock = sock
        return int(self._sock.getsockname()[1])

    def rewrite(self, sdp: str) -> str:
        """``sdp`` with every IPv4 UDP candidate pointing at the blackhole (others dropped)."""
        port = self.port
        out = []
        for line in sdp.splitlines():
            if line.startswith("a=candidate:"):
                m = _CANDIDATE.match(line)
                if m is None or ":" in m.group(2):
                    continue
                line = f"{m.group(1)}{m.group(2)} {port}{m.group(4)}"
            out.append(line)
        return "\r\n".join(out) + "\r\n"

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


def without_candidates(sdp: str) -> str:
    """``sdp`` with no candidates and no end-of-candidates: the peer
    connection that applies it waits for candidates that never come."""
    lines = [line for line in sdp.splitlines()
             if not line.startswith("a=candidate:") and line != "a=end-of-candidates"]
    return "\r\n".join(lines) + "\r\n"
