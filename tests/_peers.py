"""Two aiortc peer connections of one process, negotiated directly (no signaling)."""

from __future__ import annotations

from aiortc import RTCPeerConnection

from decart_widgets.common.rtc import loopback_ice


async def link(sender_pc: RTCPeerConnection, receiver_pc: RTCPeerConnection) -> None:
    """Offer from ``sender_pc``, answer from ``receiver_pc``, on loopback ICE."""
    with loopback_ice():
        await sender_pc.setLocalDescription(await sender_pc.createOffer())
        await receiver_pc.setRemoteDescription(sender_pc.localDescription)
        await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
        await sender_pc.setRemoteDescription(receiver_pc.localDescription)
