// @ts-check
/**
 * The "comm" transport: JPEG frames as binary buffers over the widget's comm.
 * Down: the frames of each stream the view shows (the model's output; a
 * DecartView's input too), each drawn on its canvas, newest wins, each acked
 * once drawn (or skipped). DecartLive's camera goes up alongside
 * (camera_comm.js) until the transport's `signal` aborts.
 */
import { dwSend } from "./messages.js";
import { dwBytes, dwOnMessage } from "./rpc.js";

/**
 * @param {{
 *   model: import("./rpc.js").AnyModel,
 *   view: string,
 *   signal: AbortSignal,
 *   canvases: Partial<Record<import("./messages.js").DwStream, HTMLCanvasElement>>,
 *   onFrame: (stream: import("./messages.js").DwStream, info: {counter: number | null}) => void,
 * }} opts each stream shown draws on its canvas
 */
export function dwStartComm({ model, view, signal, canvases, onFrame }) {
  const ac = new AbortController();
  const stop = () => ac.abort();
  signal.addEventListener("abort", stop, { once: true });
  const own = ac.signal;

  // ---- down: each stream's frames, newest wins per stream
  /** @typedef {{msg: import("./messages.js").DwOutputFrame, buf: any}} DwPending */
  /** @type {Map<import("./messages.js").DwStream, {canvas: HTMLCanvasElement, ctx: CanvasRenderingContext2D, pending: DwPending | null, drawing: boolean}>} */
  const screens = new Map();
  for (const [stream, canvas] of Object.entries(canvases)) {
    if (!canvas) continue;
    const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
    screens.set(/** @type {import("./messages.js").DwStream} */ (stream), { canvas, ctx, pending: null, drawing: false });
  }
  const ack = (/** @type {import("./messages.js").DwOutputFrame} */ msg) =>
    dwSend(model, { type: "oack", id: msg.id, view, stream: msg.stream || "output" });
  async function draw(/** @type {import("./messages.js").DwOutputFrame} */ msg, /** @type {any} */ buf) {
    const stream = msg.stream || "output";
    const screen = /** @type {NonNullable<ReturnType<typeof screens.get>>} */ (screens.get(stream));
    screen.drawing = true;
    try {
      const bitmap = await createImageBitmap(new Blob([/** @type {BlobPart} */ (dwBytes(buf))], { type: "image/jpeg" }));
      if (!own.aborted) {
        const { canvas, ctx } = screen;
        if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
          canvas.width = bitmap.width;
          canvas.height = bitmap.height;
        }
        ctx.drawImage(bitmap, 0, 0);
        onFrame(stream, { counter: msg.counter ?? null });
      }
      bitmap.close();
    } catch (err) {
      console.warn("decart-widgets: undecodable output frame", err);
    } finally {
      ack(msg);
      screen.drawing = false;
    }
    if (screen.pending && !own.aborted) {
      const next = screen.pending;
      screen.pending = null;
      draw(next.msg, next.buf);
    }
  }
  dwOnMessage(model, "oframe", (msg, buffers) => {
    const screen = screens.get(msg.stream || "output");
    if (!screen || !buffers.length) return ack(msg);
    if (screen.drawing) {
      if (screen.pending) ack(screen.pending.msg); // skipped: newest wins
      screen.pending = { msg, buf: buffers[0] };
      return;
    }
    draw(msg, buffers[0]);
  }, own);
  dwSend(model, { type: "comm_start", view, streams: [...screens.keys()] });
  own.addEventListener("abort", () => dwSend(model, { type: "comm_stop", view }), { once: true });

  return { name: "comm", stop, signal: own };
}
