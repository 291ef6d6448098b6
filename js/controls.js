// @ts-check
/**
 * The widgets' shared DOM pieces: status pill, banner, a stream's screen,
 * stats line, and how each shows its state. Each widget's layout is its own
 * (live_ui.js, view_ui.js). No transport logic.
 */

/**
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {(Node | string)[]} [children]
 * @returns {any}
 */
export function dwEl(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role" || key === "for") node.setAttribute(key, value);
    else /** @type {any} */ (node)[key] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

export const DW_STATE_LABELS = {
  connecting: "Connecting",
  connected: "Connected",
  generating: "Generating",
  reconnecting: "Reconnecting",
  disconnected: "Disconnected",
};

/** The status pill (state label, spinner, LIVE mark). */
export function dwBuildPill() {
  const spinner = dwEl("span", { class: "dw-spinner", "aria-hidden": "true" });
  const liveMark = dwEl("span", { class: "dw-live", text: "LIVE" });
  const pillText = dwEl("span", { class: "dw-pill-text", text: "Disconnected" });
  const pill = dwEl("span", { class: "dw-pill dw-pill--disconnected", role: "status", "data-testid": "status" }, [spinner, pillText, liveMark]);
  return { pill, pillText };
}

/** The error banner (hidden until there is an error). */
export function dwBuildBanner() {
  const bannerText = dwEl("span", { class: "dw-banner-text" });
  const bannerCode = dwEl("code", { class: "dw-banner-code" });
  const bannerClose = dwEl("button", { class: "dw-banner-close", text: "×", title: "Dismiss", "aria-label": "dismiss" });
  const banner = dwEl("div", { class: "dw-banner", role: "alert", hidden: true, "data-testid": "banner" }, [
    dwEl("span", { class: "dw-banner-icon", text: "!" }), bannerText, bannerCode, bannerClose,
  ]);
  return { banner, bannerText, bannerCode, bannerClose };
}

/**
 * A panel that shows one stream: a video (WebRTC), a canvas (comm) and a
 * note in their place until frames arrive. Test ids: `<stream>-video`, `<stream>-canvas`.
 * @param {string} stream
 * @param {string} label
 * @param {string} waiting
 */
export function dwBuildScreen(stream, label, waiting) {
  const video = dwEl("video", { class: "dw-video", muted: true, autoplay: true, playsInline: true, hidden: true, "data-testid": `${stream}-video` });
  const canvas = dwEl("canvas", { class: "dw-video", hidden: true, "data-testid": `${stream}-canvas` });
  const note = dwEl("div", { class: "dw-placeholder", text: waiting });
  const labelEl = dwEl("span", { class: "dw-label", text: label });
  const panel = dwEl("figure", { class: "dw-panel", "data-testid": `${stream}-panel` }, [
    dwEl("figcaption", { class: "dw-caption" }, [labelEl]),
    dwEl("div", { class: "dw-frame" }, [video, canvas, note]),
  ]);
  return { panel, video: /** @type {HTMLVideoElement} */ (video), canvas: /** @type {HTMLCanvasElement} */ (canvas), note, label: labelEl };
}

/** The stats line. */
export function dwBuildStats() {
  return dwEl("span", { class: "dw-stats", "data-testid": "stats" });
}

/**
 * @param {{root: HTMLElement, pill: HTMLElement, pillText: HTMLElement}} ui
 * @param {string} state
 * @param {string} [queue] the place in the server's queue while connecting ("queued: 3 of 10")
 */
export function dwRenderPill(ui, state, queue = "") {
  const label = (state === "connecting" && queue) || /** @type {Record<string, string>} */ (DW_STATE_LABELS)[state] || state;
  ui.pill.className = `dw-pill dw-pill--${state}`;
  ui.pillText.textContent = label;
  ui.root.dataset.state = state;
  const history = ui.root.dataset.stateHistory ? ui.root.dataset.stateHistory.split(",") : [];
  if (history[history.length - 1] !== state) ui.root.dataset.stateHistory = [...history, state].slice(-20).join(",");
}

/**
 * @param {{stats: HTMLElement}} ui
 * @param {Record<string, any>} stats
 * @param {number} seconds
 * @param {string | null} transport
 * @param {number | null} shownFps
 */
export function dwRenderStats(ui, stats, seconds, transport, shownFps) {
  const parts = [`${seconds || 0} s generated`];
  const fps = shownFps ?? stats.fps_out;
  if (fps != null) parts.push(`${Number(fps).toFixed(1)} fps`);
  if (stats.latency_ms != null) parts.push(`${Math.round(stats.latency_ms)} ms`);
  parts.push(transport || "no transport");
  ui.stats.textContent = parts.join(" · ");
  ui.stats.title = "generated seconds · output fps shown here · model round-trip latency · browser↔kernel transport";
}

/**
 * @param {{banner: HTMLElement, bannerText: HTMLElement, bannerCode: HTMLElement}} ui
 * @param {{message: string, code?: string} | null} error
 */
export function dwRenderBanner(ui, error) {
  ui.banner.hidden = !error;
  ui.bannerText.textContent = error ? error.message : "";
  ui.bannerCode.textContent = error?.code || "";
  ui.bannerCode.hidden = !error?.code;
}

/**
 * @template {any[]} A
 * @param {(...args: A) => void} fn
 * @param {number} ms
 */
export function dwDebounce(fn, ms) {
  /** @type {any} */
  let timer = null;
  /** @type {A | null} */
  let lastArgs = null;
  const debounced = (/** @type {A} */ ...args) => {
    lastArgs = args;
    clearTimeout(timer);
    timer = setTimeout(flush, ms);
  };
  const flush = () => {
    clearTimeout(timer);
    timer = null;
    if (lastArgs) {
      const args = lastArgs;
      lastArgs = null;
      fn(...args);
    }
  };
  return { call: debounced, flush, pending: () => lastArgs !== null, cancel: () => { clearTimeout(timer); lastArgs = null; } };
}
