// @ts-check
/** DecartLive's DOM: header with model picker and Connect, camera and output, prompt and image controls. */
import { dwBuildBanner, dwBuildPill, dwBuildScreen, dwBuildStats, dwEl } from "./controls.js";

/**
 * Build DecartLive's DOM inside `el`; returns the parts the view drives.
 * @param {HTMLElement} el
 */
export function dwBuildUI(el) {
  const { pill, pillText } = dwBuildPill();
  const modelSelect = dwEl("select", { class: "dw-select", title: "Realtime model (switching reconnects)", "aria-label": "model" });
  const connectBtn = dwEl("button", { class: "dw-btn dw-btn--primary", text: "Connect", "data-testid": "connect" });
  const serverNote = dwEl("span", { class: "dw-server", "data-testid": "server-note" });
  const { banner, bannerText, bannerCode, bannerClose } = dwBuildBanner();

  const cameraVideo = dwEl("video", { class: "dw-video", muted: true, autoplay: true, playsInline: true, "data-testid": "camera-video" });
  const cameraNote = dwEl("div", { class: "dw-placeholder", text: "Camera off" });
  const cameraPanel = dwEl("figure", { class: "dw-panel" }, [
    dwEl("figcaption", { class: "dw-caption" }, [dwEl("span", { class: "dw-label", text: "Camera" })]),
    dwEl("div", { class: "dw-frame" }, [cameraVideo, cameraNote]),
  ]);
  const output = dwBuildScreen("output", "Output", "Waiting for the model");
  const { video: outputVideo, canvas: outputCanvas, note: outputNote, label: outputLabel, panel: outputPanel } = output;

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
  const stats = dwBuildStats();

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

