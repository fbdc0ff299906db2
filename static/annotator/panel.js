// The side panel's own behaviour: the objects panel's actions (hover, pick, hide, lock),
// the brightness / contrast / gamma of the image, and copy / paste of boxes.
//
// Kept out of main.js so that file stays the wiring; the selectors still come from there ($).

import { geometry, isShown, select, selectedBoxes } from "./state.js";
import { centreOn } from "./view.js";

const REQUERY_MS = 250;

export function createPanel({ state, view, canvas, root, $, $all, say, redraw, publish, flow }) {
  const objectActions = {
    hover(key) {
      state.hoverKey = key;
      redraw();
    },
    pick(box, add) {
      centreOn(view, box);
      if (state.lockedLabels.has(box.label_id)) {
        redraw();
        return say(`${box.label} is locked: unlock it in the objects panel to edit its boxes.`);
      }
      state.hiddenLabels.delete(box.label_id); // picking a box of a hidden label shows it
      if (!isShown(state, box)) {
        if (box.status === "rejected") state.showRejected = true;
        if (box.status === "proposed") state.threshold = Math.min(state.threshold, box.score ?? 0);
        syncProposalControls();
      }
      select(state, box, { add });
      canvas.focus();
      publish();
      redraw();
    },
    hide: (labelId) => toggleLabel(state.hiddenLabels, labelId),
    lock: (labelId) => toggleLabel(state.lockedLabels, labelId),
  };

  // Rows are rebuilt under the pointer (a click changes the selection): leaving the list
  // must clear the highlight even when the row that was entered is gone.
  $("objects").addEventListener("mouseleave", () => objectActions.hover(null));

  function toggleLabel(set, labelId) {
    if (set.has(labelId)) set.delete(labelId);
    else set.add(labelId);
    for (const box of selectedBoxes(state)) {
      if (box.label_id === labelId) state.selected.delete(box.key); // hidden/locked: not editable
    }
    publish();
    redraw();
  }

  let clipboard = [];
  function copyBoxes() {
    const chosen = selectedBoxes(state);
    if (!chosen.length) return say("Select the boxes to copy first.");
    clipboard = chosen.map((b) => ({ ...geometry(b), label: b.label, label_id: b.label_id }));
    try {
      sessionStorage.setItem("labeler.clipboard", JSON.stringify(clipboard));
    } catch {
      // Private mode: the copy still works on this page.
    }
    say(`Copied ${clipboard.length} box(es): Ctrl+V pastes them (also on another image).`);
  }

  function pasteBoxes() {
    let boxes = clipboard;
    if (!boxes.length) {
      try {
        boxes = JSON.parse(sessionStorage.getItem("labeler.clipboard") || "[]");
      } catch {
        boxes = [];
      }
    }
    const pasted = flow.pasteRects(boxes);
    if (pasted.length) select(state, null);
  }

  function syncProposalControls() {
    $("threshold").value = String(state.threshold);
    $("thresholdValue").textContent = state.threshold.toFixed(2);
    $("showRejected").checked = state.showRejected;
  }

  function adjustImage() {
    // Brightness and contrast are canvas filters; gamma is an SVG transfer function.
    const gamma = Number($("gamma").value);
    $all("gammaFuncs").forEach((f) => {
      f.setAttribute("exponent", String(1 / gamma));
    });
    const parts = [`brightness(${$("brightness").value})`, `contrast(${$("contrast").value})`];
    if (gamma !== 1) parts.push("url(#gamma-filter)");
    view.filter = parts.join(" ");
    root.dataset.imageFilter = view.filter;
    redraw();
  }

  function wire(review) {
    // The slider hides at once and asks the server a moment after it stops moving.
    let requeryTimer = 0;
    $("threshold").addEventListener("input", (event) => {
      state.threshold = Number(event.target.value);
      $("thresholdValue").textContent = state.threshold.toFixed(2);
      for (const box of selectedBoxes(state)) if (!isShown(state, box)) state.selected.delete(box.key);
      redraw();
      clearTimeout(requeryTimer);
      requeryTimer = setTimeout(() => review.requery(state.threshold), REQUERY_MS);
    });
    $("showRejected").addEventListener("change", (event) => {
      state.showRejected = event.target.checked;
      redraw();
    });
    for (const name of ["brightness", "contrast", "gamma"]) $(name).addEventListener("input", adjustImage);
  }

  return { objectActions, adjustImage, copyBoxes, pasteBoxes, syncProposalControls, wire };
}
