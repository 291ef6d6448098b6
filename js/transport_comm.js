// @ts-check
/**
 * The "comm" transport: JPEG frames as binary buffers over the widget's comm.
 * Up: camera frames (only from the camera view), at most 2 unacked, frames
 * skipped meanwhile (newest wins). Down: model frames drawn on a canvas,
 * newest wins, each acked once drawn (or skipped).
 */
import { dwSend, dwSendRequest } from "./messages.js";
import { dwBytes, dwNewId, dwOnMessage } from "./rpc.js";

const DW_COMM_MAX_IN_FLIGHT = 2;
const DW_COMM_ACK_TIMEOUT_MS = 1000;
const DW_COMM_JPEG_QUALITY = 0.8;

/**
 * @param {{
 *   model: import("./rpc.js").AnyModel,
 *   view: string,
 *   signal: AbortSignal,
 *   canvas: HTMLCanvasElement,
 *   onFrame: (info: {counter: number | null}) => void,
 * }} opts
 */
export function dwStartComm({ model, view, signal, canvas, onFrame }) {
  const ac = new AbortController();
  const stop = () => ac.abort();
  signal.addEventListener("abort", stop, { once: true });
  const own = ac.signal;
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));

  // ---- down: model output
  /** @type {{msg: import("./messages.js").DwOutputFrame, buf: any} | null} */
  let pending = null;
  let drawing = false;
  const ack = (/** @type {number} */ id) => dwSend(model, { type: "oack", id, view });
  async function draw(/** @type {import("./messages.js").DwOutputFrame} */ msg, /** @type {any} */ buf) {
    drawing = true;
    try {
      const bitmap = await createImageBitmap(new Blob([/** @type {BlobPart} */ (dwBytes(buf))], { type: "image/jpeg" }));
      if (!own.aborted) {
        if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
          canvas.width = bitmap.width;
          canvas.height = bitmap.height;
        }
        ctx.drawImage(bitmap, 0, 0);
        onFrame({ counter: msg.counter ?? null });
      }
      bitmap.close();
    } catch (err) {
      console.warn("decart-widgets: undecodable output frame", err);
    } finally {
      ack(msg.id);
      drawing = false;
    }
    if (pending && !own.aborted) {
      const next = pending;
      pending = null;
      draw(next.msg, next.buf);
    }
  }
  dwOnMessage(model, "oframe", (msg, buffers) => {
    if (!buffers.length) return ack(msg.id);
    if (drawing) {
      if (pending) ack(pending.msg.id); // skipped: newest wins
      pending = { msg, buf: buffers[0] };
      return;
    }
    draw(msg, buffers[0]);
  }, own);
  dwSend(model, { type: "comm_start", view });
  own.addEventListener("abort", () => dwSend(model, { type: "comm_stop", view }), { once: true });

  // ---- up: camera frames
  /** @type {Map<string, number>} */
  const inFlight = new Map();
  /** @type {HTMLVideoElement | null} */
  let camera = null;
  /** @type {OffscreenCanvas | null} */
  let grab = null;
  let sent = 0;
  let skipped = 0;
  // the kernel answers every camera frame (dropped or not): its slot is free
  dwOnMessage(model, "reply", (msg) => { inFlight.delete(msg.id); }, own);

  async function sendFrame() {
    const video = camera;
    if (!video || video.readyState < 2 || !video.videoWidth) return;
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
      if (own.aborted) return;
      dwSendRequest(model, { type: "cframe", view }, id, [buf]);
      sent += 1;
    } catch (err) {
      inFlight.delete(id);
      console.warn("decart-widgets: camera frame not sent", err);
    }
  }

  let frameHandle = 0;
  function schedule() {
    if (own.aborted || !camera) return;
    const video = camera;
    if ("requestVideoFrameCallback" in video) {
      frameHandle = video.requestVideoFrameCallback(() => { sendFrame(); schedule(); });
    } else {
      frameHandle = window.setTimeout(() => { sendFrame(); schedule(); }, 33);
    }
  }
  function cancel() {
    const video = /** @type {any} */ (camera);
    if (video && "cancelVideoFrameCallback" in video) video.cancelVideoFrameCallback(frameHandle);
    else clearTimeout(frameHandle);
  }
  own.addEventListener("abort", cancel, { once: true });

  return {
    name: "comm",
    stop,
    /** @param {HTMLVideoElement | null} video the camera preview to send, or null */
    setCamera(video) {
      cancel();
      camera = video;
      schedule();
    },
    stats: () => ({ sent, skipped }),
  };
}
