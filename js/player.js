// @ts-check
/**
 * The frames one view shows, for every widget: picks the transport (WebRTC
 * within a deadline, falling back to comm, or the one the `transport` trait
 * asks for), shows each stream in its screen (a video for WebRTC, a canvas
 * for comm) and counts the frames shown (`data-frames-shown` on the root,
 * `data-input-frames-shown` for an input stream).
 */
import { dwSend } from "./messages.js";
import { dwStartComm } from "./transport_comm.js";
import { dwStartWebRTC } from "./transport_webrtc.js";

const DW_WEBRTC_DEADLINE_MS = { auto: 4000, webrtc: 10000 };

/**
 * One stream's place on the page.
 * @typedef {{
 *   stream: import("./messages.js").DwStream,
 *   video: HTMLVideoElement,
 *   canvas: HTMLCanvasElement,
 *   note: HTMLElement,
 *   waiting: string,
 * }} DwScreen
 */

/**
 * @param {{
 *   model: import("./rpc.js").AnyModel,
 *   view: string,
 *   signal: AbortSignal,
 *   root: HTMLElement,
 *   screens: DwScreen[],
 *   onError: (err: {message: string, code?: string}) => void,
 *   onChange: () => void,
 *   onLost: () => void,
 *   sendCamera?: (opts: {model: import("./rpc.js").AnyModel, view: string, signal: AbortSignal, video: HTMLVideoElement}) => unknown,
 * }} opts `screens[0]` is the output; `sendCamera` sends a camera over the comm transport (DecartLive's); `onChange` when the transport or the
 *   shown fps changed (first output frame, every 15th); `onLost` when a WebRTC
 *   connection dropped
 */
export function dwPlayer({ model, view, signal, root, screens, onError, onChange, onLost, sendCamera }) {
  /** @type {any} */
  let transport = null;
  let seq = 0;
  /** @type {number | null} */
  let fps = null;
  /** @type {Record<string, number>} */
  const shown = {};
  /** @type {number[]} */
  const shownTimes = [];

  /** @param {import("./messages.js").DwStream} stream */
  function frameShown(stream) {
    const n = (shown[stream] = (shown[stream] || 0) + 1);
    const screen = screens.find((s) => s.stream === stream);
    if (screen) screen.note.hidden = true;
    if (stream !== "output") {
      root.dataset[`${stream}FramesShown`] = String(n);
      return;
    }
    const now = performance.now();
    shownTimes.push(now);
    while (shownTimes.length && now - shownTimes[0] > 2000) shownTimes.shift();
    root.dataset.framesShown = String(n);
    if (n === 1 || n % 15 === 0) {
      fps = shownTimes.length > 1 ? (shownTimes.length - 1) / ((now - shownTimes[0]) / 1000) : null;
      onChange();
    }
  }

  // WebRTC frames are counted as the video elements present them
  /** @type {Map<HTMLVideoElement, number>} */
  const handles = new Map();
  for (const screen of screens) {
    const v = /** @type {any} */ (screen.video);
    if (!("requestVideoFrameCallback" in v)) continue;
    const count = () => {
      handles.set(screen.video, v.requestVideoFrameCallback(() => {
        if (transport?.name === "webrtc") frameShown(screen.stream);
        if (!signal.aborted) count();
      }));
    };
    count();
  }
  signal.addEventListener("abort", () => {
    for (const [video, handle] of handles) /** @type {any} */ (video).cancelVideoFrameCallback?.(handle);
  }, { once: true });

  function stop() {
    seq += 1;
    if (transport) transport.stop();
    transport = null;
    root.dataset.transport = "";
  }

  /**
   * (Re)start the transport.
   * @param {{camera?: MediaStream | null, cameraVideo?: HTMLVideoElement | null}} [send] the camera this view sends
   */
  async function start({ camera = null, cameraVideo = null } = {}) {
    stop();
    if (signal.aborted) return;
    const mine = seq;
    const want = model.get("transport");
    for (const s of screens) {
      s.note.hidden = false;
      s.note.textContent = "Connecting…";
    }
    /** @type {any} */
    let t = null;
    if (want === "webrtc" || want === "auto") {
      try {
        t = await dwStartWebRTC({
          model, view, signal, stream: camera,
          videos: screens.map((s) => ({ stream: s.stream, video: s.video })),
          deadlineMs: /** @type {any} */ (DW_WEBRTC_DEADLINE_MS)[want],
          onLost: () => { if (transport === t) onLost(); },
        });
      } catch (err) {
        if (mine !== seq || signal.aborted) return;
        if (want === "webrtc") {
          onError({ message: `${/** @type {any} */ (err).message || err}`, code: "WEBRTC_ICE_ERROR" });
          screens[0].note.textContent = "WebRTC to the kernel failed";
          return;
        }
        console.info("decart-widgets: WebRTC unavailable, using comm:", err);
      }
    }
    if (mine !== seq || signal.aborted) { t?.stop(); return; }
    if (!t) {
      const canvases = Object.fromEntries(screens.map((s) => [s.stream, s.canvas]));
      t = dwStartComm({ model, view, signal, canvases, onFrame: frameShown });
      if (camera && cameraVideo && sendCamera) sendCamera({ model, view, signal: t.signal, video: cameraVideo });
    }
    transport = t;
    for (const s of screens) {
      s.video.hidden = t.name !== "webrtc";
      s.canvas.hidden = t.name !== "comm";
      s.note.textContent = s.waiting;
    }
    root.dataset.transport = t.name;
    dwSend(model, { type: "transport", view, name: t.name });
    onChange();
  }

  /** Stop and show `text` instead of the frames. @param {string} text */
  function idle(text) {
    stop();
    for (const s of screens) {
      s.video.hidden = true;
      s.canvas.hidden = true;
      s.note.hidden = false;
      s.note.textContent = text;
    }
  }

  return {
    start,
    stop,
    idle,
    /** @returns {string | null} the transport in use */
    get name() { return transport ? transport.name : null; },
    /** @returns {number | null} output frames shown per second, lately */
    get fps() { return fps; },
  };
}
