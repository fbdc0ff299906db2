// The annotator: wires state, view, pointer tools, keys, the side panel and the API.
//
// Tests read the state from data-* attributes on #annotator (box counts, save state,
// the view transform) instead of reaching into these modules.

import { createApi } from "./api.js";
import { createEdits } from "./edits.js";
import { applyHotkeys, attachKeys, fillHelp } from "./keys.js";
import { attachLabelApi, pickByDigit, renderEditor, renderPicker } from "./labels.js";
import { renderObjects, signature } from "./objects.js";
import { createPanel } from "./panel.js";
import { createReview } from "./review.js";
import {
  counts, createState, currentLabel, overlapping, select, selectedBoxes,
} from "./state.js";
import { attachTools } from "./tools.js";
import { createView, fit, loadBitmap, refit, requestDraw, resizeCanvas, zoomAt } from "./view.js";
import { createWorkflow, takeFlash } from "./workflow.js";

const SELECTORS = {
  root: "#annotator",
  config: "#annotator-config",
  canvas: "#annotator-canvas",
  stage: ".annotator-stage",
  labelList: "#label-list",
  labelEditor: "#label-editor-list",
  labelAdd: "#label-add",
  objects: "#object-list",
  saveState: "#save-state",
  retry: "#save-retry",
  message: "#annotator-message",
  threshold: "#threshold",
  thresholdValue: "#threshold-value",
  showRejected: "#show-rejected",
  counts: "#box-counts",
  imageState: "#image-state",
  datasetProgress: "#dataset-progress",
  zoom: "#zoom-level",
  jump: "#jump-to",
  help: "#help-overlay",
  helpTable: "#help-table",
  scope: "#propagate-scope",
  n: "#propagate-n",
  progress: "#propagate-progress",
  progressText: "#propagate-text",
  brightness: "#adjust-brightness",
  contrast: "#adjust-contrast",
  gamma: "#adjust-gamma",
  gammaFuncs: "#gamma-filter feFuncR, #gamma-filter feFuncG, #gamma-filter feFuncB",
  actionButtons: "[data-action]",
};
const SAVE_TEXT = { saved: "Saved", saving: "Saving…", error: "Not saved" };
const LARGE_SIDE = 4096; // above this, display the server's downscaled copy
const DISPLAY_MAX = 2048;
const ZOOM_STEP = 1.25;
const ADOPT_IOU = 0.5; // a drawn box this close to a shown proposal accepts that proposal

const $ = (name) => document.querySelector(SELECTORS[name]);
const $all = (name) => document.querySelectorAll(SELECTORS[name]);

function boot() {
  const root = $("root");
  const config = JSON.parse($("config").textContent);
  const apiBase = root.dataset.api;
  const state = createState(config);
  const canvas = $("canvas");
  const held = { space: false };
  let messageTimer = 0;
  let objectsSignature = "";

  const view = createView(canvas, publish);
  const redraw = () => requestDraw(view, state);

  function say(text, kind = "info") {
    const el = $("message");
    el.textContent = text;
    el.dataset.kind = kind;
    clearTimeout(messageTimer);
    if (kind === "info") messageTimer = setTimeout(() => (el.textContent = ""), 8000);
  }

  const ui = {
    saveState(kind, detail = "") {
      root.dataset.saveState = kind;
      const el = $("saveState");
      el.textContent = detail ? `${SAVE_TEXT[kind]}: ${detail}` : SAVE_TEXT[kind];
      el.title = el.textContent; // the whole reason, when the bar shows only its start
      el.dataset.kind = kind;
      $("retry").hidden = !(kind === "error" && api.pending());
    },
    finished(wasFinished) {
      // This image just became done/empty: count it in the dataset's progress.
      if (wasFinished) return;
      const el = $("datasetProgress");
      const n = Number(el.dataset.finished) + 1;
      el.dataset.finished = String(n);
      el.querySelector("progress").value = n;
      el.querySelector(".progress-text").textContent = `${n}/${el.dataset.total} finished`;
    },
    progress(done, total, status) {
      const bar = $("progress");
      bar.hidden = false;
      bar.max = Math.max(total, 1);
      bar.value = done;
      $("progressText").textContent = `${status} ${done}/${total}`;
      root.dataset.jobStatus = status;
    },
  };

  const api = createApi({ base: apiBase, csrfToken: config.csrf_token, onStatus: ui.saveState });
  const edits = createEdits({ state, api, redraw });
  const labelApi = attachLabelApi({ api, state, say, refresh });
  const flow = createWorkflow({
    state, api, edits, say, refresh, ui, pagesBase: root.dataset.pages || "",
    prevName: config.prev_name,
  });
  api.setFailureHandler(flow.reloadAfter);
  const panel = createPanel({
    state, view, canvas, root, $, $all, say, redraw, publish: () => publish(), flow,
  });

  function publish() {
    // Called after every frame: mirror the state into the DOM for people and tests.
    const c = counts(state);
    Object.assign(root.dataset, {
      boxCount: String(c.accepted),
      proposedCount: String(c.proposed),
      shownCount: String(c.shown),
      rejectedCount: String(c.rejected),
      selectedCount: String(state.selected.size),
      selectedDeliberate: String(state.deliberate && state.selected.size > 0),
      undoCount: String(state.undo.length),
      currentLabel: currentLabel(state)?.name ?? "",
      imageState: state.image.state ?? "",
      scale: view.scale.toFixed(5),
      offsetX: view.ox.toFixed(2),
      offsetY: view.oy.toFixed(2),
      canvasWidth: String(Math.round(view.width)),
      canvasHeight: String(Math.round(view.height)),
      minimap: view.minimap ? "1" : "0",
    });
    $("counts").textContent =
      `${c.accepted} accepted · ${c.shown} of ${c.proposed} proposals shown · ${c.rejected} rejected`;
    const badge = $("imageState");
    badge.textContent = (state.image.state ?? "").replace("_", " ");
    badge.dataset.state = state.image.state ?? "";
    $("zoom").textContent = `${Math.round(view.scale * 100)}%`;
    const sig = signature(state);
    if (sig !== objectsSignature) {
      objectsSignature = sig;
      renderObjects($("objects"), state, panel.objectActions);
    }
  }

  function refresh() {
    renderPicker($("labelList"), state, setLabel);
    renderEditor($("labelEditor"), state, labelApi.saveLabel);
    objectsSignature = ""; // label names or colours may have changed
    redraw();
  }

  function setLabel(id) {
    // Sticky: the label of the next box. Boxes are relabelled only when the user selected
    // them on purpose, never the box that is selected because it was just drawn.
    state.currentLabelId = id;
    const chosen = state.deliberate ? selectedBoxes(state) : [];
    if (chosen.length) edits.relabel(chosen, id);
    else if (state.selected.size) {
      const name = currentLabel(state)?.name ?? "";
      say(`Next box: ${name}. (Click or Tab to a box to relabel it.)`);
    }
    refresh();
  }

  const review = createReview({ state, view, edits, api, say, redraw });

  function exemplars() {
    const chosen = selectedBoxes(state).filter((b) => b.status !== "rejected");
    if (chosen.length) return chosen;
    return [...state.boxes.values()].filter(
      (b) => b.status === "accepted" && b.label_id === state.currentLabelId,
    );
  }

  async function findSimilar() {
    const chosen = exemplars();
    if (!chosen.length) return say("Draw or select a box first: it becomes the exemplar.");
    say("Finding similar…");
    try {
      const { added, heldBack } = await edits.findSimilar(chosen);
      const more = heldBack ? ` ${heldBack} more after you accept some of these.` : "";
      say(`${added.length} proposal(s) found.${more}`);
    } catch {
      // The save queue's failure handler has already reloaded and said why.
    }
  }

  function propagate() {
    const keys = state.exemplarIds || [];
    const known = keys.map((k) => state.boxes.get(k)).filter(Boolean);
    flow.propagate(known.length ? known : exemplars(), {
      scope: $("scope").value,
      n: Number($("n").value) || 10,
    });
  }

  function toggleHelp(show) {
    $("help").hidden = show === undefined ? !$("help").hidden : !show;
  }

  function createOrAdopt(rect) {
    // Drawing over a shown proposal accepts it with the drawn geometry instead of adding a
    // second box on the same object.
    const proposal = overlapping(state, rect, ADOPT_IOU);
    if (proposal && proposal.id != null) return edits.adoptProposal(proposal, rect);
    return edits.createBox(rect) || say("Add a label first (Edit labels).", "error");
  }

  function nudgeOr(dx, dy, otherwise) {
    const chosen = state.deliberate ? selectedBoxes(state) : [];
    if (chosen.length) return edits.moveBoxes(chosen, dx, dy);
    if (otherwise) return otherwise();
    return say("Select a box first (click it) to move it with the arrow keys.");
  }

  const ACTIONS = {
    label: (entry) => {
      const label = pickByDigit(state, entry.digit);
      if (label) setLabel(label.id);
    },
    accept: () => review.decideSelected("accepted"),
    reject: () => review.decideSelected("rejected"),
    acceptAll: () => review.decideShown("accepted"),
    rejectAll: () => review.decideShown("rejected"),
    nextProposal: () => review.stepProposal(1),
    prevProposal: () => review.stepProposal(-1),
    findSimilar,
    propagate,
    copyPrevious: () => flow.copyPrevious(),
    copyBoxes: panel.copyBoxes,
    pasteBoxes: panel.pasteBoxes,
    delete: () => edits.deleteBoxes(selectedBoxes(state)),
    undo: () => edits.undo() || say("Nothing to undo."),
    redo: () => edits.redo() || say("Nothing to redo."),
    done: () => flow.finish("done"),
    empty: () => flow.finish("empty"),
    next: () => flow.navigate("next_id"),
    prev: () => flow.navigate("prev_id"),
    right: () => nudgeOr(1, 0, () => flow.navigate("next_id")),
    left: () => nudgeOr(-1, 0, () => flow.navigate("prev_id")),
    up: () => nudgeOr(0, -1),
    down: () => nudgeOr(0, 1),
    rightFar: () => nudgeOr(10, 0),
    leftFar: () => nudgeOr(-10, 0),
    upFar: () => nudgeOr(0, -10),
    downFar: () => nudgeOr(0, 10),
    jump: () => $("jump").focus(),
    fit: () => fit(view, state.image.width, state.image.height),
    zoomIn: () => zoomAt(view, view.width / 2, view.height / 2, ZOOM_STEP),
    zoomOut: () => zoomAt(view, view.width / 2, view.height / 2, 1 / ZOOM_STEP),
    toggleRejected: () => {
      state.showRejected = !state.showRejected;
      $("showRejected").checked = state.showRejected;
    },
    deselect: () => {
      select(state, null);
      toggleHelp(false);
    },
    help: () => toggleHelp(),
    resetAdjust: () => {
      for (const name of ["brightness", "contrast", "gamma"]) $(name).value = "1";
      panel.adjustImage();
    },
  };

  function dispatch(action, entry = {}) {
    const run = ACTIONS[action];
    if (!run) return;
    run(entry);
    publish(); // now, not at the next frame: the data-* state follows every key at once
    redraw();
  }

  function wirePanel() {
    document.querySelectorAll(SELECTORS.actionButtons).forEach((button) => {
      button.addEventListener("click", () => {
        canvas.focus(); // keys keep working after a click on the panel
        dispatch(button.dataset.action);
      });
    });
    $("retry").addEventListener("click", () => api.retry());
    panel.wire(review);
    $("labelAdd").addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = event.target;
      const name = form.elements.name.value.trim();
      if (!name) return say("A label needs a name.", "error");
      if (await labelApi.addLabel(name, form.elements.colour.value)) form.reset();
    });
    $("jump").addEventListener("keydown", (event) => {
      if (event.key === "Escape") canvas.focus();
    });
    window.addEventListener("beforeunload", (event) => {
      if (api.pending()) event.preventDefault();
    });
  }

  function showImage() {
    // Boxes stay in original pixels; only the displayed file is smaller for huge images.
    const { id, width, height } = state.image;
    const large = Math.max(width, height) > LARGE_SIDE;
    const url = `${apiBase}/images/${id}/file${large ? `?max=${DISPLAY_MAX}` : ""}`;
    return loadBitmap(view, url).then(redraw, () =>
      say(`Could not load the image file of image ${id}.`, "error"),
    );
  }

  const hotkeys = config.hotkeys || {};
  const unknown = applyHotkeys(hotkeys.keys);
  fillHelp($("helpTable"));
  $("help").addEventListener("click", () => toggleHelp(false));
  wirePanel();
  resizeCanvas(view);
  fit(view, state.image.width, state.image.height);
  new ResizeObserver(() => {
    refit(view, state.image.width, state.image.height);
    publish();
    redraw();
  }).observe($("stage"));
  const drawEdits = { ...edits, createBox: createOrAdopt };
  attachTools({ canvas, view, state, held, redraw, edits: drawEdits });
  attachKeys({ dispatch, held, onSpace: redraw });
  ui.saveState("saved");
  refresh();
  const flash = takeFlash(state.image.id);
  if (hotkeys.error) say(hotkeys.error, "error");
  else if (unknown.length) say(`hotkeys.json: unknown action(s) ${unknown.join(", ")}`, "error");
  else if (flash) say(flash, "persist");
  Promise.all([flow.load().catch((err) => say(`Could not load boxes: ${err.message}`, "error")), showImage()])
    .finally(() => {
      root.dataset.ready = "1";
      redraw();
    });
}

boot();
