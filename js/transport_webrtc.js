// @ts-check
/**
 * The "webrtc" transport: a peer connection to aiortc in the kernel,
 * signaled over the widget's comm (one request with an id, candidates inline).
 * One video section per stream the view shows, in order: the first (the
 * model's output) also carries the camera when this view sends it.
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
 *   videos: {stream: import("./messages.js").DwStream, video: HTMLVideoElement}[],
 *   deadlineMs: number,
 *   onLost: () => void,
 * }} opts `stream` is the camera to send (or null); each of `videos` shows one stream
 */
export async function dwStartWebRTC({ model, view, signal, stream, videos, deadlineMs, onLost }) {
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
    for (const { video } of videos) if (video.srcObject) video.srcObject = null;
    dwSend(model, { type: "rtc_close", view });
  };
  ac.signal.addEventListener("abort", stop, { once: true });
  try {
    const track = stream?.getVideoTracks()[0];
    const transceivers = videos.map((_, i) => (i === 0 && track && stream)
      ? pc.addTransceiver(track, { direction: "sendrecv", streams: [stream] })
      : pc.addTransceiver("video", { direction: "recvonly" }));
    pc.ontrack = (ev) => {
      const video = videos[transceivers.indexOf(ev.transceiver)]?.video;
      if (!video) return;
      // a stream of its own per track: the kernel puts every track in one stream
      video.srcObject = new MediaStream([ev.track]);
      video.play().catch((err) => console.debug("decart-widgets: output video did not start playing", err));
    };
    await pc.setLocalDescription(await pc.createOffer());
    await dwWaitFor(pc, "icegatheringstatechange", () => pc.iceGatheringState === "complete", Math.min(2000, left()), ac.signal);
    const local = /** @type {RTCSessionDescription} */ (pc.localDescription);
    const offer = { type: /** @type {const} */ ("rtc_offer"), view, sdp: local.sdp, streams: videos.map((v) => v.stream) };
    const answer = await dwRequest(model, offer, left(), ac.signal).catch((err) => {
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
    signal: ac.signal,
    pc,
  };
}
