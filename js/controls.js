// @ts-check
/** The widget's DOM: layout, status pill, stats line, banner. No transport logic. */

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

/**
 * Build the widget's DOM inside `el`; returns the parts the view drives.
 * @param {HTMLElement} el
 */
export function dwBuildUI(el) {
  const spinner = dwEl("span", { class: "dw-spinner", "aria-hidden": "true" });
  const liveMark = dwEl("span", { class: "dw-live", text: "LIVE" });
  const pillText = dwEl("span", { class: "dw-pill-text", text: "Disconnected" });
  const pill = dwEl("span", { class: "dw-pill dw-pill--disconnected", role: "status", "data-testid": "status" }, [spinner, pillText, liveMark]);
  const modelSelect = dwEl("select", { class: "dw-select", title: "Realtime model (switching reconnects)", "aria-label": "model" });
  const connectBtn = dwEl("button", { class: "dw-btn dw-btn--primary", text: "Connect", "data-testid": "connect" });
  const serverNote = dwEl("span", { class: "dw-server", "data-testid": "server-note" });

  const bannerText = dwEl("span", { class: "dw-banner-text" });
  const bannerCode = dwEl("code", { class: "dw-banner-code" });
  const bannerClose = dwEl("button", { class: "dw-banner-close", text: "×", title: "Dismiss", "aria-label": "dismiss" });
  const banner = dwEl("div", { class: "dw-banner", role: "alert", hidden: true, "data-testid": "banner" }, [
    dwEl("span", { class: "dw-banner-icon", text: "!" }), bannerText, bannerCode, bannerClose,
  ]);

  const cameraVideo = dwEl("video", { class: "dw-video", muted: true, autoplay: true, playsInline: true, "data-testid": "camera-video" });
  const cameraNote = dwEl("div", { class: "dw-placeholder", text: "Camera off" });
  const outputVideo = dwEl("video", { class: "dw-video", muted: true, autoplay: true, playsInline: true, hidden: true, "data-testid": "output-video" });
  const outputCanvas = dwEl("canvas", { class: "dw-video", hidden: true, "data-testid": "output-canvas" });
  const outputNote = dwEl("div", { class: "dw-placeholder", text: "Waiting for the model" });
  const outputLabel = dwEl("span", { class: "dw-label", text: "Output" });
  const cameraPanel = dwEl("figure", { class: "dw-panel" }, [
    dwEl("figcaption", { class: "dw-caption" }, [dwEl("span", { class: "dw-label", text: "Camera" })]),
    dwEl("div", { class: "dw-frame" }, [cameraVideo, cameraNote]),
  ]);
  const outputPanel = dwEl("figure", { class: "dw-panel" }, [
    dwEl("figcaption", { class: "dw-caption" }, [outputLabel]),
    dwEl("div", { class: "dw-frame" }, [outputVideo, outputCanvas, outputNote]),
  ]);

  const promptInput = dwEl("input", {
    class: "dw-prompt", type: "text", placeholder: "Describe the style, e.g. “anime”, “sketch”, “neon city at night”",
    "aria-label": "prompt", "data-testid": "prompt", spellcheck: false,
  });
  const enhanceInput = dwEl("input", { type: "checkbox", checked: true, "data-testid": "enhance" });
  const enhanceToggle = dwEl("label", { class: "dw-toggle", title: "Let the server enhance the prompt" }, [
    enhanceInput, dwEl("span", { class: "dw-toggle-track" }), dwEl("span", { text: "Enhance" }),
  ]);
  const imageInput = dwEl("input", { type: "file", accept: "image/*", hidden: true, "data-testid": "image-input" });
  const thumb = dwEl("img", { class: "dw-thumb", alt: "", hidden: true, "data-testid": "image-thumb" });
  const imageButton = dwEl("button", { class: "dw-btn", text: "Reference image…", title: "Pick or drop an image (max 10 MB)" });
  const imageClear = dwEl("button", { class: "dw-btn dw-btn--ghost", text: "Clear", hidden: true, "data-testid": "image-clear" });
  const imageName = dwEl("span", { class: "dw-image-name" });
  const imageBox = dwEl("div", { class: "dw-image", "data-testid": "image-drop" }, [thumb, imageButton, imageName, imageClear, imageInput]);

  const cameraSelect = dwEl("select", { class: "dw-select dw-select--small", "aria-label": "camera", title: "Camera", hidden: true });
  const mirrorSelect = dwEl("select", { class: "dw-select dw-select--small", "aria-label": "mirror", title: "Show the camera and the output mirrored (selfie view)" });
  for (const [value, text] of [["auto", "Mirror: auto"], ["on", "Mirror: on"], ["off", "Mirror: off"]]) {
    mirrorSelect.append(dwEl("option", { value, text }));
  }
  const stats = dwEl("span", { class: "dw-stats", "data-testid": "stats" });

  const root = dwEl("div", { class: "dw-root", "data-state": "disconnected" }, [
    dwEl("header", { class: "dw-header" }, [
      dwEl("span", { class: "dw-title", text: "Decart Live" }), serverNote,
      dwEl("span", { class: "dw-spacer" }), modelSelect, pill, connectBtn,
    ]),
    banner,
    dwEl("div", { class: "dw-media" }, [cameraPanel, outputPanel]),
    dwEl("div", { class: "dw-controls" }, [promptInput, enhanceToggle, imageBox]),
    dwEl("footer", { class: "dw-footer" }, [cameraSelect, mirrorSelect, dwEl("span", { class: "dw-spacer" }), stats]),
  ]);
  el.append(root);
  return {
    root, pill, pillText, modelSelect, connectBtn, serverNote, banner, bannerText, bannerCode, bannerClose,
    cameraVideo, cameraNote, outputVideo, outputCanvas, outputNote, outputLabel, promptInput, enhanceInput,
    imageInput, imageButton, imageClear, imageName, imageBox, thumb, cameraSelect, mirrorSelect, stats,
  };
}

/** @typedef {ReturnType<typeof dwBuildUI>} DwUI */

/**
 * @param {DwUI} ui
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
 * @param {DwUI} ui
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
 * @param {DwUI} ui
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
