// The box layer: with many boxes, pan and zoom move a picture of the boxes instead of
// drawing every box again.
//
// Software-rendered Chromium spends most of a frame rasterising strokes (2,000 boxes with
// halos: ~15 ms of paint per frame on a shared 2-core VM), so past LAYER_MIN_BOXES the boxes are
// drawn once into an offscreen canvas and each pan/zoom frame blits it with the view's change
// (one drawImage). The layer is redrawn at once when anything it shows changes (a box, the
// selection, the threshold, a hidden label: see layerKey) and crisply LAYER_IDLE_MS after the
// view stops moving; until then, edges newly panned into view show no boxes and a zoom is
// briefly soft. With few boxes everything is drawn directly, every frame.

const LAYER_MIN_BOXES = 300;
const LAYER_IDLE_MS = 120;

export function layerKey(state, colours) {
  // One pass over the boxes: geometry, status and label of each, plus what filters them.
  let acc = 0;
  for (const box of state.boxes.values()) {
    if (state.selected.has(box.key)) continue; // drawn on top, not in the layer: a drag is cheap
    const g = box.x * 3 + box.y * 5 + box.w * 7 + box.h * 11 + (box.label_id || 0) * 13;
    acc = (acc * 31 + g + box.status.length) % 1e12;
  }
  return [
    state.boxes.size, acc, [...state.selected].join(","), state.threshold, state.showRejected,
    [...state.hiddenLabels].join(","), colours,
  ].join("|");
}

function sameView(a, view) {
  return a.scale === view.scale && a.ox === view.ox && a.oy === view.oy;
}

export function usesLayer(state) {
  return state.boxes.size > LAYER_MIN_BOXES;
}

export function drawBoxLayer(view, state, drawBoxes, redraw) {
  // drawBoxes(ctx) draws the boxes at the current view with the CSS-px transform set.
  const { canvas, ctx, dpr } = view;
  const colours = state.labels.map((l) => `${l.colour}:${l.name}`).join(","); // captions too
  const key = layerKey(state, colours);
  const layer = (view.layer ||= { canvas: document.createElement("canvas"), key: null });
  const sized = layer.canvas.width === canvas.width && layer.canvas.height === canvas.height;
  const settled = view.settled && !sameView(layer, view);
  if (layer.key !== key || !sized || settled) {
    layer.canvas.width = canvas.width;
    layer.canvas.height = canvas.height;
    const lctx = layer.canvas.getContext("2d");
    lctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    lctx.clearRect(0, 0, layer.canvas.width, layer.canvas.height);
    lctx.font = ctx.font;
    drawBoxes(lctx);
    Object.assign(layer, { key, scale: view.scale, ox: view.ox, oy: view.oy });
    view.settled = false;
  }
  const k = view.scale / layer.scale;
  ctx.save();
  ctx.setTransform(k, 0, 0, k, dpr * (view.ox - layer.ox * k), dpr * (view.oy - layer.oy * k));
  ctx.drawImage(layer.canvas, 0, 0);
  ctx.restore();
  if (!sameView(layer, view)) {
    // Moved: redraw crisply once the view has been still for a moment.
    clearTimeout(view.settleTimer);
    view.settleTimer = setTimeout(() => {
      view.settled = true;
      redraw();
    }, LAYER_IDLE_MS);
  }
}
