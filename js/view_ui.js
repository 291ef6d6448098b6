// @ts-check
/** DecartView's DOM: header with the pill, the output (and input), the stats line. No controls. */
import { dwBuildBanner, dwBuildPill, dwBuildScreen, dwBuildStats, dwEl } from "./controls.js";

/**
 * Build DecartView's DOM inside `el`: header (title, note, pill), banner,
 * the output (and the input, when shown) and the stats line.
 * @param {HTMLElement} el
 * @param {boolean} showInput
 */
export function dwBuildViewUI(el, showInput) {
  const { pill, pillText } = dwBuildPill();
  const note = dwEl("span", { class: "dw-server", "data-testid": "view-note" });
  const { banner, bannerText, bannerCode, bannerClose } = dwBuildBanner();
  const input = showInput ? dwBuildScreen("input", "Input · what the model is sent", "Waiting for the input") : null;
  const output = dwBuildScreen("output", "Output", "Waiting for the model");
  const panels = input ? [input.panel, output.panel] : [output.panel];
  const stats = dwBuildStats();
  const root = dwEl("div", { class: input ? "dw-root dw-root--view" : "dw-root dw-root--view dw-root--one", "data-state": "disconnected" }, [
    dwEl("header", { class: "dw-header" }, [
      dwEl("span", { class: "dw-title", text: "Decart View" }), note, dwEl("span", { class: "dw-spacer" }), pill,
    ]),
    banner,
    dwEl("div", { class: input ? "dw-media" : "dw-media dw-media--one" }, panels),
    dwEl("footer", { class: "dw-footer" }, [dwEl("span", { class: "dw-spacer" }), stats]),
  ]);
  el.append(root);
  return { root, pill, pillText, note, banner, bannerText, bannerCode, bannerClose, output, input, stats };
}
