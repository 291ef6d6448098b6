// @ts-check
/**
 * DecartLive's camera over the comm transport: the camera view's frames as
 * JPEG `cframe` requests, at most 2 unanswered, frames skipped meanwhile
 * (newest wins). Runs until `signal` aborts (the transport stopped).
 */
import { dwSendRequest } from "./messages.js";
import { dwNewId, dwOnMessage } from "./rpc.js";

const DW_COMM_MAX_IN_FLIGHT = 2;
const DW_COMM_ACK_TIMEOUT_MS = 1000;
const DW_COMM_JPEG_QUALITY = 0.8;

/**
 * @param {{
 *   model: import("./rpc.js").AnyModel,
 *   view: string,
 *   signal: AbortSignal,
 *   video: HTMLVideoElement,
 * }} opts `video` is the camera preview to send
 */
export function dwSendCameraComm({ model, view, signal, video }) {
  /** @type {Map<string, number>} */
  const inFlight = new Map();
  /** @type {OffscreenCanvas | null} */
  let grab = null;
  let sent = 0;
  let skipped = 0;
  // the kernel answers every camera frame (dropped or not): its slot is free
  dwOnMessage(model, "reply", (msg) => { inFlight.delete(msg.id); }, signal);

  async function sendFrame() {
    if (video.readyState < 2 || !video.videoWidth) return;
    const now = performance.now();
    for (const [id, t] of inFlight) if (now - t > DW_COMM_ACK_TIMEOUT_MS) inFlight.delete(id);
    if (inFlight.size >= DW_COMM_MAX_IN_FLIGHT) { skipped += 1; return; }
    const id = dwNewId();
    inFlight.set(id, now);
    try {
      const w = video.videoWidth, h = video.videoHeight;
      if (!grab || grab.width !== w || grab.height !== h) grab = new OffscreenCanvas(w, h);
      const g = /** @type {OffscreenCanvasRenderingContext2D} */ (grab.getContext("2d"));
      g.drawImage(video, 0, 0, w, h);
      const blob = await grab.convertToBlob({ type: "image/jpeg", quality: DW_COMM_JPEG_QUALITY });
      const buf = await blob.arrayBuffer();
      if (signal.aborted) return;
      dwSendRequest(model, { type: "cframe", view }, id, [buf]);
      sent += 1;
    } catch (err) {
      inFlight.delete(id);
      console.warn("decart-widgets: camera frame not sent", err);
    }
  }

  let frameHandle = 0;
  function schedule() {
    if (signal.aborted) return;
    if ("requestVideoFrameCallback" in video) {
      frameHandle = video.requestVideoFrameCallback(() => { sendFrame(); schedule(); });
    } else {
      frameHandle = window.setTimeout(() => { sendFrame(); schedule(); }, 33);
    }
  }
  function cancel() {
    if ("cancelVideoFrameCallback" in video) video.cancelVideoFrameCallback(frameHandle);
    else clearTimeout(frameHandle);
  }
  signal.addEventListener("abort", cancel, { once: true });

  schedule();
  return { stats: () => ({ sent, skipped }) };
}
