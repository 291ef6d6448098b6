// @ts-check
/**
 * Custom messages between a view and the kernel: typed messages, and
 * requests that carry an id and wait for the reply with the same id.
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

let dwIdCounter = 0;

/** A page-unique id for views and requests. */
export function dwNewId() {
  dwIdCounter += 1;
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}-${dwIdCounter}`;
}

/**
 * Call `handler(msg, buffers)` for custom messages of `type` until `signal` aborts.
 * @param {AnyModel} model
 * @param {string} type
 * @param {(msg: any, buffers: any[]) => void} handler
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
 * Send `content` with a fresh id; resolve with the reply of one of `replyTypes` with that id.
 * @param {AnyModel} model
 * @param {Record<string, any>} content
 * @param {string[]} replyTypes
 * @param {number} timeoutMs
 * @param {AbortSignal} signal
 * @param {(ArrayBuffer | ArrayBufferView)[]} [buffers]
 * @returns {Promise<any>}
 */
export function dwRequest(model, content, replyTypes, timeoutMs, signal, buffers) {
  const id = dwNewId();
  return new Promise((resolve, reject) => {
    /** @param {any} msg */
    const cb = (msg) => {
      if (msg && msg.id === id && replyTypes.includes(msg.type)) {
        done();
        resolve(msg);
      }
    };
    const onAbort = () => {
      done();
      reject(new DOMException("aborted", "AbortError"));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no reply to ${content.type} within ${timeoutMs} ms`));
    }, timeoutMs);
    function done() {
      clearTimeout(timer);
      model.off("msg:custom", cb);
      signal.removeEventListener("abort", onAbort);
    }
    if (signal.aborted) return onAbort();
    model.on("msg:custom", cb);
    signal.addEventListener("abort", onAbort, { once: true });
    model.send({ ...content, id }, undefined, buffers);
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
