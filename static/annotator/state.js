// The annotator's data: the image, its boxes, labels, selection and undo history.
//
// Boxes are kept by a client-side `key` because a box drawn a moment ago has no server
// id yet; `id` and `version` are filled in when the server answers. Coordinates are
// always in pixels of the original image, whatever size is displayed.

const BOX_FIELDS = [
  "id", "label", "label_id", "x", "y", "w", "h", "status", "score", "source", "version",
  "is_exemplar",
];

let lastKey = 0;

export function createState(config) {
  const labels = (config.labels || []).map((l) => ({ ...l }));
  return {
    image: { state: null, version: null, ...config.image },
    dataset: config.dataset,
    labels,
    boxes: new Map(),
    selected: new Set(),
    // True when the user picked the selection (click, Tab, the objects panel); a box that is
    // selected only because it was just drawn is not relabelled by a digit (sticky label).
    deliberate: false,
    hiddenLabels: new Set(), // label ids hidden in the objects panel
    lockedLabels: new Set(), // label ids whose boxes cannot be selected, moved or decided
    hoverKey: null, // the box under the pointer in the objects panel
    currentLabelId: labels.length ? labels[0].id : null,
    threshold: 0,
    showRejected: false,
    undo: [],
    redo: [],
    nav: {
      prev_id: config.prev_id ?? null,
      next_id: config.next_id ?? null,
      next_unfinished_id: config.next_unfinished_id ?? null,
    },
    exemplarIds: null, // the box keys used by the last Find similar, reused by Propagate
  };
}

export function applyServerBox(box, data) {
  for (const field of BOX_FIELDS) {
    if (data[field] !== undefined) box[field] = data[field];
  }
  return box;
}

export function addBox(state, data) {
  const box = applyServerBox({ key: ++lastKey, id: null, version: null, score: null }, data);
  state.boxes.set(box.key, box);
  return box;
}

export function putBox(state, box) {
  state.boxes.set(box.key, box);
}

export function removeBox(state, box) {
  state.boxes.delete(box.key);
  state.selected.delete(box.key);
}

export function replaceBoxes(state, list) {
  state.boxes.clear();
  state.selected.clear();
  list.forEach((data) => addBox(state, data));
}

export function boxByServerId(state, id) {
  for (const box of state.boxes.values()) if (box.id === id) return box;
  return null;
}

export function labelById(state, id) {
  return state.labels.find((l) => l.id === id) || null;
}

export function labelOf(state, box) {
  return (
    labelById(state, box.label_id) || state.labels.find((l) => l.name === box.label) || null
  );
}

export function currentLabel(state) {
  return labelById(state, state.currentLabelId);
}

export function isShown(state, box) {
  if (state.hiddenLabels.has(box.label_id)) return false;
  if (box.status === "rejected") return state.showRejected;
  if (box.status === "proposed") return (box.score ?? 1) >= state.threshold;
  return true;
}

export function shownProposals(state) {
  return [...state.boxes.values()].filter((b) => b.status === "proposed" && isShown(state, b));
}

export function selectedBoxes(state) {
  return [...state.selected].map((k) => state.boxes.get(k)).filter(Boolean);
}

export function isLocked(state, box) {
  return state.lockedLabels.has(box.label_id);
}

export function select(state, box, { add = false, deliberate = true } = {}) {
  if (!add) state.selected.clear();
  state.deliberate = deliberate;
  if (box) {
    if (add && state.selected.has(box.key)) state.selected.delete(box.key);
    else state.selected.add(box.key);
  }
}

export function counts(state) {
  const out = { accepted: 0, proposed: 0, rejected: 0, shown: 0 };
  for (const box of state.boxes.values()) {
    out[box.status] = (out[box.status] || 0) + 1;
    if (box.status === "proposed" && isShown(state, box)) out.shown += 1;
  }
  return out;
}

export function clampBox(state, { x, y, w, h }) {
  // Boxes may never leave the image: the server would refuse them with a 422.
  const W = state.image.width;
  const H = state.image.height;
  const x0 = Math.min(Math.max(x, 0), W);
  const y0 = Math.min(Math.max(y, 0), H);
  const x1 = Math.min(Math.max(x + w, 0), W);
  const y1 = Math.min(Math.max(y + h, 0), H);
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}

export function geometry(box) {
  return { x: box.x, y: box.y, w: box.w, h: box.h };
}

export function iou(a, b) {
  const ix = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  const inter = ix * iy;
  const union = a.w * a.h + b.w * b.h - inter;
  return union > 0 ? inter / union : 0;
}

export function overlapping(state, rect, minIou) {
  // The shown, unlocked proposal that best overlaps ``rect`` (IoU >= minIou), or null.
  let best = null;
  let bestIou = minIou;
  for (const box of state.boxes.values()) {
    if (box.status !== "proposed" || !isShown(state, box) || isLocked(state, box)) continue;
    const v = iou(box, rect);
    if (v >= bestIou) {
      best = box;
      bestIou = v;
    }
  }
  return best;
}
