// @ts-check
/**
 * Custom messages between a view and the kernel (their catalogue is
 * messages.js): a view's hello, pings and bye; listening for a type; and
 * requests that carry an id and wait for the one reply with the same id.
 *
 * @typedef {{
 *   get(name: string): any,
 *   set(name: string, value: any): void,
 *   save_changes(): void,
 *   on(event: string, cb: (...args: any[]) => void): void,
 *   off(event?: string, cb?: (...args: any[]) => void): void,
 *   send(content: any, callbacks?: any, buffers?: (ArrayBuffer | ArrayBufferView)[]): void,
 * }} AnyModel
 */

import { dwSend, dwSendRequest } from "./messages.js";

const DW_PING_MS = 5000;

let dwIdCounter = 0;

/** A page-unique id for views and requests. */
export function dwNewId() {
  dwIdCounter += 1;
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}-${dwIdCounter}`;
}

/**
 * Call `handler(msg, buffers)` for custom messages of `type` until `signal` aborts.
 * @template {import("./messages.js").DwToBrowser["type"]} T
 * @param {AnyModel} model
 * @param {T} type
 * @param {(msg: Extract<import("./messages.js").DwToBrowser, {type: T}>, buffers: any[]) => void} handler
 * @param {AbortSignal} signal
 */
export function dwOnMessage(model, type, handler, signal) {
  /** @param {any} msg @param {any[]} buffers */
  const cb = (msg, buffers) => {
    if (msg && msg.type === type) handler(msg, buffers || []);
  };
  model.on("msg:custom", cb);
  signal.addEventListener("abort", () => model.off("msg:custom", cb), { once: true });
}

/**
 * Tell the kernel this view is here: hello now, a ping every 5 s. Returns
 * the goodbye (stops the pings, says bye) for the view's cleanup.
 * @param {AnyModel} model
 * @param {string} view
 * @returns {() => void}
 */
export function dwAnnounce(model, view) {
  dwSend(model, { type: "hello", view });
  const ping = setInterval(() => dwSend(model, { type: "ping", view }), DW_PING_MS);
  return () => {
    clearInterval(ping);
    try {
      dwSend(model, { type: "bye", view });
    } catch (err) {
      console.debug("decart-widgets: could not say bye (the comm is gone)", err);
    }
  };
}

/** The kernel answered a request with `ok: false`; the message is its reason. */
export class DwRefused extends Error {}

/**
 * Send `request` with a fresh id; resolve with the result of its reply, or
 * reject (DwRefused when the kernel said no, Error on timeout, AbortError).
 * @param {AnyModel} model
 * @param {import("./messages.js").DwRequest} request
 * @param {number} timeoutMs
 * @param {AbortSignal} signal
 * @param {(ArrayBuffer | ArrayBufferView)[]} [buffers]
 * @returns {Promise<any>}
 */
export function dwRequest(model, request, timeoutMs, signal, buffers) {
  const id = dwNewId();
  return new Promise((resolve, reject) => {
    /** @param {any} msg */
    const cb = (msg) => {
      if (msg && msg.type === "reply" && msg.id === id) {
        done();
        const reply = /** @type {import("./messages.js").DwReply} */ (msg);
        if (reply.ok) resolve(reply.result);
        else reject(new DwRefused(reply.error || `${request.type} refused`));
      }
    };
    const onAbort = () => {
      done();
      reject(new DOMException("aborted", "AbortError"));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no reply to ${request.type} within ${timeoutMs} ms`));
    }, timeoutMs);
    function done() {
      clearTimeout(timer);
      model.off("msg:custom", cb);
      signal.removeEventListener("abort", onAbort);
    }
    if (signal.aborted) return onAbort();
    model.on("msg:custom", cb);
    signal.addEventListener("abort", onAbort, { once: true });
    dwSendRequest(model, request, id, buffers);
  });
}

/**
 * A received buffer (DataView in Jupyter, ArrayBuffer elsewhere) as bytes.
 * @param {any} buf
 * @returns {Uint8Array}
 */
export function dwBytes(buf) {
  if (buf instanceof Uint8Array) return buf;
  if (ArrayBuffer.isView(buf)) return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  return new Uint8Array(buf);
}

/**
 * Wait for an event or a timeout; resolves true on the event.
 * @param {EventTarget} target
 * @param {string} event
 * @param {() => boolean} ready checked first and on each event
 * @param {number} timeoutMs
 * @param {AbortSignal} signal
 * @returns {Promise<boolean>}
 */
export function dwWaitFor(target, event, ready, timeoutMs, signal) {
  return new Promise((resolve) => {
    if (ready()) return resolve(true);
    const finish = (/** @type {boolean} */ ok) => {
      clearTimeout(timer);
      target.removeEventListener(event, check);
      signal.removeEventListener("abort", abort);
      resolve(ok);
    };
    const check = () => { if (ready()) finish(true); };
    const abort = () => finish(false);
    const timer = setTimeout(() => finish(false), timeoutMs);
    target.addEventListener(event, check);
    signal.addEventListener("abort", abort, { once: true });
  });
}
