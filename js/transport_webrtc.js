// @ts-check
/**
 * The "webrtc" transport: a peer connection to aiortc in the kernel,
 * signaled over the widget's comm (one request with an id, candidates inline).
 */
import { dwSend } from "./messages.js";
import { DwRefused, dwRequest, dwWaitFor } from "./rpc.js";

/**
 * Connect, or throw within `deadlineMs` (the caller falls back to comm).
 * @param {{
 *   model: import("./rpc.js").AnyModel,
 *   view: string,
 *   signal: AbortSignal,
 *   stream: MediaStream | null,
 *   video: HTMLVideoElement,
 *   deadlineMs: number,
 *   onLost: () => void,
 * }} opts
 */
export async function dwStartWebRTC({ model, view, signal, stream, video, deadlineMs, onLost }) {
  const t0 = performance.now();
  const left = () => Math.max(1, deadlineMs - (performance.now() - t0));
  const ac = new AbortController();
  signal.addEventListener("abort", () => ac.abort(), { once: true });
  const pc = new RTCPeerConnection({ iceServers: [] });
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    ac.abort();
    pc.close();
    if (video.srcObject) video.srcObject = null;
    dwSend(model, { type: "rtc_close", view });
  };
  ac.signal.addEventListener("abort", stop, { once: true });
  try {
    const track = stream?.getVideoTracks()[0];
    if (track && stream) pc.addTransceiver(track, { direction: "sendrecv", streams: [stream] });
    else pc.addTransceiver("video", { direction: "recvonly" });
    pc.ontrack = (ev) => {
      video.srcObject = ev.streams[0] || new MediaStream([ev.track]);
      video.play().catch((err) => console.debug("decart-widgets: output video did not start playing", err));
    };
    await pc.setLocalDescription(await pc.createOffer());
    await dwWaitFor(pc, "icegatheringstatechange", () => pc.iceGatheringState === "complete", Math.min(2000, left()), ac.signal);
    const local = /** @type {RTCSessionDescription} */ (pc.localDescription);
    const answer = await dwRequest(model, { type: "rtc_offer", view, sdp: local.sdp }, left(), ac.signal).catch((err) => {
      throw err instanceof DwRefused ? new Error(`kernel refused WebRTC: ${err.message}`) : err;
    });
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    const ok = await dwWaitFor(pc, "connectionstatechange", () => pc.connectionState === "connected", left(), ac.signal);
    if (!ok) throw new Error(`WebRTC to the kernel did not connect within ${Math.round(deadlineMs / 1000)} s (UDP blocked?)`);
  } catch (err) {
    stop();
    throw err;
  }
  pc.addEventListener("connectionstatechange", () => {
    if (!stopped && (pc.connectionState === "failed" || pc.connectionState === "closed")) {
      stop();
      onLost();
    }
  });
  return {
    name: "webrtc",
    stop,
    /** @param {HTMLVideoElement | null} _video the camera goes in the offer; a new owner reconnects */
    setCamera(_video) {},
    stats: () => ({}),
    pc,
  };
}
