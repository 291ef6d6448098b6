// @ts-check
/**
 * DecartLive's view: wires the UI (controls.js) to the model's traits, opens
 * the camera when this view owns it, and runs a media transport.
 * The kernel holds the model session; this view only captures and displays.
 */
import { dwSend } from "./messages.js";
import { dwAnnounce, dwNewId, dwOnMessage, dwRequest } from "./rpc.js";
import { dwCameraErrorMessage, dwFacingOf, dwListCameras, dwOpenCamera, dwStopStream } from "./camera.js";
import { dwDebounce, dwEl, dwRenderBanner, dwRenderPill, dwRenderStats } from "./controls.js";
import { dwBuildUI } from "./live_ui.js";
import { dwSendCameraComm } from "./camera_comm.js";
import { dwPlayer } from "./player.js";

const DW_PROMPT_DEBOUNCE_MS = 300;

/** @param {{ model: import("./rpc.js").AnyModel, el: HTMLElement }} ctx */
function render({ model, el }) {
  const views = new AbortController();
  const signal = views.signal;
  const view = dwNewId();
  const ui = dwBuildUI(el);
  // view state, declared first: trait handlers below may run at once
  let isOwner = false;
  /** @type {MediaStream | null} */
  let stream = null;
  /** @type {string | null} */
  let cameraDevice = null;
  let facing = /** @type {"user" | "environment" | null} */ (null);
  let cameraSeq = 0; // ignore stale getUserMedia results
  let mediaSeq = 0;
  /** @type {string | null} */
  let thumbUrl = null;
  /** @param {string} name @param {(...a: any[]) => void} cb */
  const on = (name, cb) => {
    model.on(name, cb);
    signal.addEventListener("abort", () => model.off(name, cb), { once: true });
  };
  /** @param {string} name @param {any} value */
  const setTrait = (name, value) => {
    model.set(name, value);
    model.save_changes();
  };

  // ------------------------------------------------------------ traits → UI
  /** @type {{message: string, code?: string} | null} */
  let localError = null; // browser-side errors (camera, transport, upload)
  const showError = () => dwRenderBanner(ui, localError || model.get("error"));
  const pill = () => dwRenderPill(ui, model.get("state"), model.get("queue") || "");
  const player = dwPlayer({
    model, view, signal, root: ui.root,
    screens: [{ stream: "output", video: ui.outputVideo, canvas: ui.outputCanvas, note: ui.outputNote, waiting: "Waiting for the model" }],
    onError: (err) => setLocalError(err),
    onChange: () => stats(),
    onLost: () => restartTransport(),
    sendCamera: dwSendCameraComm,
  });
  const stats = () => dwRenderStats(ui, model.get("stats") || {}, model.get("generation_seconds"),
    player.name ?? model.get("transport_in_use"), player.fps);
  const models = () => {
    ui.modelSelect.replaceChildren(...(model.get("models") || []).map((/** @type {string} */ m) => dwEl("option", { value: m, text: m })));
    ui.modelSelect.value = model.get("model");
    ui.outputLabel.textContent = `Output · ${model.get("model")}`;
  };
  const server = () => {
    const note = model.get("server_note");
    ui.serverNote.textContent = note;
    ui.serverNote.hidden = !note;
    ui.serverNote.classList.toggle("dw-server--local", model.get("server") === "local");
  };
  const active = () => {
    const on_ = model.get("active");
    ui.connectBtn.textContent = on_ ? "Disconnect" : "Connect";
    ui.connectBtn.classList.toggle("dw-btn--primary", !on_);
  };
  const promptFromModel = () => {
    if (!promptTyping.pending() && ui.promptInput.value !== model.get("prompt")) ui.promptInput.value = model.get("prompt");
  };
  const imageName = () => {
    const name = model.get("image_name");
    ui.imageName.textContent = name;
    ui.imageClear.hidden = !name;
    if (!name) { ui.thumb.hidden = true; ui.thumb.removeAttribute("src"); }
  };
  const promptTyping = dwDebounce((/** @type {string} */ text) => setTrait("prompt", text), DW_PROMPT_DEBOUNCE_MS);
  on("change:state", () => { pill(); stats(); });
  on("change:queue", pill);
  on("change:stats", stats);
  on("change:generation_seconds", stats);
  on("change:transport_in_use", stats);
  on("change:error", showError);
  on("change:models", models);
  on("change:model", models);
  on("change:prompt", promptFromModel);
  on("change:enhance", () => { ui.enhanceInput.checked = model.get("enhance"); });
  on("change:mirror", () => { ui.mirrorSelect.value = model.get("mirror"); applyMirror(); });
  on("change:image_name", imageName);
  on("change:server_note", server);
  on("change:active", () => { active(); syncMedia(); });
  on("change:transport", () => { restartTransport(); });
  pill(); models(); server(); active(); imageName(); showError(); stats();
  ui.promptInput.value = model.get("prompt");
  ui.enhanceInput.checked = model.get("enhance");
  ui.mirrorSelect.value = model.get("mirror");
  applyMirror();

  // ------------------------------------------------------------ UI → traits
  /** @param {string} type @param {(e: any) => void} cb @param {EventTarget} target */
  const listen = (target, type, cb) => target.addEventListener(type, cb, { signal });
  listen(ui.promptInput, "input", () => promptTyping.call(ui.promptInput.value));
  listen(ui.promptInput, "keydown", (e) => {
    if (e.key === "Enter") { promptTyping.call(ui.promptInput.value); promptTyping.flush(); }
  });
  listen(ui.enhanceInput, "change", () => setTrait("enhance", ui.enhanceInput.checked));
  listen(ui.modelSelect, "change", () => setTrait("model", ui.modelSelect.value));
  listen(ui.connectBtn, "click", () => setTrait("active", !model.get("active")));
  listen(ui.mirrorSelect, "change", () => setTrait("mirror", ui.mirrorSelect.value));
  listen(ui.bannerClose, "click", () => {
    localError = null;
    if (model.get("error")) setTrait("error", null);
    showError();
  });
  listen(ui.imageButton, "click", () => ui.imageInput.click());
  listen(ui.imageInput, "change", () => { const f = ui.imageInput.files?.[0]; if (f) uploadImage(f); ui.imageInput.value = ""; });
  listen(ui.imageBox, "dragover", (e) => { e.preventDefault(); ui.imageBox.classList.add("dw-image--over"); });
  listen(ui.imageBox, "dragleave", () => ui.imageBox.classList.remove("dw-image--over"));
  listen(ui.imageBox, "drop", (e) => {
    e.preventDefault();
    ui.imageBox.classList.remove("dw-image--over");
    const f = e.dataTransfer?.files?.[0];
    if (f) uploadImage(f);
  });
  listen(ui.imageClear, "click", async () => {
    try {
      await dwRequest(model, { type: "image_clear" }, 30000, signal);
    } catch (err) { if (!signal.aborted) setLocalError({ message: `Could not clear the image: ${err}`, code: "IMAGE" }); }
  });
  listen(ui.cameraSelect, "change", () => { cameraDevice = ui.cameraSelect.value || null; restartCamera(); });

  /** @param {{message: string, code?: string} | null} err */
  function setLocalError(err) { localError = err; showError(); }

  /** @param {File} file */
  async function uploadImage(file) {
    const limit = model.get("max_image_bytes");
    if (!file.type.startsWith("image/")) {
      return setLocalError({ message: `${file.name} is not an image.`, code: "INVALID_INPUT" });
    }
    if (file.size > limit) {
      return setLocalError({
        message: `${file.name} is ${(file.size / 1e6).toFixed(1)} MB; reference images must be at most ${Math.round(limit / 1048576)} MB.`,
        code: "INVALID_INPUT",
      });
    }
    ui.imageName.textContent = `uploading ${file.name}…`;
    try {
      const buf = await file.arrayBuffer();
      await dwRequest(model, { type: "image", name: file.name }, 60000, signal, [buf]);
      if (thumbUrl) URL.revokeObjectURL(thumbUrl);
      thumbUrl = URL.createObjectURL(file);
      ui.thumb.src = thumbUrl;
      ui.thumb.hidden = false;
      setLocalError(null);
    } catch (err) {
      if (!signal.aborted) setLocalError({ message: `Image not applied: ${/** @type {any} */ (err).message || err}`, code: "IMAGE" });
    } finally {
      imageName();
    }
  }
  signal.addEventListener("abort", () => { if (thumbUrl) URL.revokeObjectURL(thumbUrl); }, { once: true });

  // ---------------------------------------------------------------- camera

  // Mirroring is for display only (a selfie view): the model gets the camera
  // as captured, and its output is shown flipped like the preview.
  function applyMirror() {
    const m = model.get("mirror");
    const mirrored = m === "on" || (m === "auto" && facing !== "environment");
    for (const el of [ui.cameraVideo, ui.outputVideo, ui.outputCanvas]) el.classList.toggle("dw-mirrored", mirrored);
    ui.root.dataset.mirrored = String(mirrored);
  }

  async function startCamera() {
    const seq = ++cameraSeq;
    ui.cameraNote.textContent = "Starting camera…";
    ui.cameraNote.hidden = false;
    try {
      const s = await dwOpenCamera(cameraDevice, 1280, 720);
      if (seq !== cameraSeq || signal.aborted) { dwStopStream(s); return null; }
      stream = s;
      const track = s.getVideoTracks()[0];
      facing = dwFacingOf(track);
      applyMirror();
      ui.cameraVideo.srcObject = s;
      ui.cameraVideo.play().catch((/** @type {unknown} */ err) => console.debug("decart-widgets: camera preview did not start playing", err));
      ui.cameraNote.hidden = true;
      dwSend(model, { type: "camera_info", view, facing });
      if (localError?.code === "CAMERA_ERROR") setLocalError(null);
      fillCameraList(track);
      return s;
    } catch (err) {
      if (seq !== cameraSeq || signal.aborted) return null;
      const message = dwCameraErrorMessage(err);
      ui.cameraNote.textContent = message;
      setLocalError({ message, code: "CAMERA_ERROR" });
      dwSend(model, { type: "camera_error", view, name: /** @type {any} */ (err)?.name, message });
      return null;
    }
  }

  /** @param {MediaStreamTrack} track */
  async function fillCameraList(track) {
    const cams = await dwListCameras().catch((err) => {
      console.warn("decart-widgets: could not list the cameras", err);
      return [];
    });
    const current = track.getSettings?.().deviceId;
    ui.cameraSelect.replaceChildren(...cams.map((c) => dwEl("option", { value: c.deviceId, text: c.label })));
    if (current) ui.cameraSelect.value = current;
    ui.cameraSelect.disabled = cams.length < 2;
    ui.cameraSelect.hidden = cams.length === 0;
  }

  function stopCamera() {
    cameraSeq += 1;
    dwStopStream(stream);
    stream = null;
    ui.cameraVideo.srcObject = null;
    ui.cameraNote.hidden = false;
    ui.cameraNote.textContent = !model.get("active") ? "Camera off" : isOwner ? "Camera off" : "Camera in use by another view of this widget";
    ui.root.dataset.camera = "off";
    ui.cameraSelect.hidden = true;
  }

  async function restartCamera() {
    if (!isOwner || !model.get("active")) return;
    stopCamera();
    await startCamera();
    ui.root.dataset.camera = stream ? "on" : "off";
    restartTransport();
  }

  // ------------------------------------------------------------- transport
  function stopTransport() {
    player.stop();
  }

  async function restartTransport() {
    if (!model.get("active") || signal.aborted) { stopTransport(); return; }
    const camera = isOwner ? stream : null;
    await player.start({ camera, cameraVideo: ui.cameraVideo });
  }

  // ---------------------------------------------------- ownership & activity
  async function syncMedia() {
    const seq = ++mediaSeq;
    if (!model.get("active")) {
      player.idle("Disconnected");
      stopCamera();
      return;
    }
    if (isOwner && !stream) await startCamera();
    if (!isOwner && stream) stopCamera();
    if (!isOwner) stopCamera();
    if (seq !== mediaSeq) return;
    ui.root.dataset.camera = stream ? "on" : "off";
    await restartTransport();
  }

  dwOnMessage(model, "roles", (msg) => {
    const owner = msg.camera_view === view;
    if (owner === isOwner && (player.name || !model.get("active"))) return;
    isOwner = owner;
    ui.root.dataset.cameraOwner = String(owner);
    syncMedia();
  }, signal);

  const bye = dwAnnounce(model, view);

  return () => {
    promptTyping.flush();
    stopTransport();
    dwStopStream(stream);
    stream = null;
    views.abort();
    bye();
    ui.root.remove();
  };
}

export default { render };
