// @ts-check
/**
 * DecartView's view: a session's output (and its input, when shown) with
 * the status pill and stats, over the same transports as DecartLive. No
 * camera, no prompt: the session belongs to the kernel; this view only
 * displays it, and stops once the session has ended.
 */
import { dwAnnounce, dwNewId } from "./rpc.js";
import { dwRenderBanner, dwRenderPill, dwRenderStats } from "./controls.js";
import { dwBuildViewUI } from "./view_ui.js";
import { dwPlayer } from "./player.js";

/** @param {{ model: import("./rpc.js").AnyModel, el: HTMLElement }} ctx */
function render({ model, el }) {
  const views = new AbortController();
  const signal = views.signal;
  const view = dwNewId();
  const ui = dwBuildViewUI(el, Boolean(model.get("show_input")));
  /** @param {string} name @param {(...a: any[]) => void} cb */
  const on = (name, cb) => {
    model.on(name, cb);
    signal.addEventListener("abort", () => model.off(name, cb), { once: true });
  };

  /** @type {{message: string, code?: string} | null} */
  let localError = null; // browser-side errors (transport)
  const showError = () => dwRenderBanner(ui, localError || model.get("error"));
  /** @type {import("./player.js").DwScreen[]} */
  const screens = [{ stream: "output", ...ui.output, waiting: "Waiting for the model" }];
  if (ui.input) screens.push({ stream: "input", ...ui.input, waiting: "Waiting for the input" });
  const player = dwPlayer({
    model, view, signal, root: ui.root, screens,
    onError: (err) => { localError = err; showError(); },
    onChange: () => stats(),
    onLost: () => sync(),
  });
  const stats = () => dwRenderStats(ui, model.get("stats") || {}, model.get("generation_seconds"),
    player.name ?? model.get("transport_in_use"), player.fps);
  const note = () => {
    const name = model.get("model");
    ui.note.textContent = model.get("view_only") ? "watching a session" : name ? `session · ${name}` : "session";
    ui.output.label.textContent = name ? `Output · ${name}` : "Output";
  };
  const ended = () => model.get("state") === "disconnected";
  let wasEnded = ended();

  // the transport runs while the session does; once it ends, the view says so
  function sync() {
    if (signal.aborted) return;
    if (ended()) player.idle(model.get("error") ? "The session ended with an error" : "The session ended");
    else player.start();
  }

  on("change:state", () => {
    dwRenderPill(ui, model.get("state"));
    stats();
    if (ended() !== wasEnded) { wasEnded = ended(); sync(); }
  });
  on("change:stats", stats);
  on("change:generation_seconds", stats);
  on("change:transport_in_use", stats);
  on("change:error", () => { showError(); if (ended()) sync(); });
  on("change:model", note);
  on("change:transport", sync);
  ui.bannerClose.addEventListener("click", () => {
    localError = null;
    if (model.get("error")) { model.set("error", null); model.save_changes(); }
    showError();
  }, { signal });
  dwRenderPill(ui, model.get("state"));
  note(); showError(); stats();

  const bye = dwAnnounce(model, view);
  sync();

  return () => {
    player.stop();
    views.abort();
    bye();
    ui.root.remove();
  };
}

export default { render };
