// Canvas rendering, zoom and pan.
//
// One canvas, no DOM per box: every change calls requestDraw(), which coalesces into a
// single requestAnimationFrame. Screen (CSS px) = image px * scale + offset. A big image
// is displayed from a downscaled file but drawn stretched to its original size, so the
// boxes never leave original-pixel coordinates.
//
// Readability on stained, busy images: every box has a dark halo under its colour, a caption
// (label, and score for proposals) on a dark tag, and proposals alternate their label colour
// with white dashes so they never look like accepted boxes.

import { drawBoxLayer, usesLayer } from "./layer.js";
import { drawMinimap } from "./minimap.js";
import { isShown, labelOf } from "./state.js";

export const HANDLE_PX = 7;
const MIN_SCALE = 0.01;
const MAX_SCALE = 40;
const STYLE = {
  background: "#202124",
  crosshair: "rgba(255,255,255,0.55)",
  draft: "#ffffff",
  fallbackColour: "#ff00ff",
  font: "12px system-ui, sans-serif",
  halo: "rgba(0,0,0,0.75)",
  proposalGap: "#ffffff",
  rejected: "#9aa0a6",
  tag: "rgba(0,0,0,0.72)",
  tagText: "#ffffff",
  hover: "#ffffff",
};
const TAG_H = 15;

export function createView(canvas, onDraw) {
  const view = {
    canvas,
    ctx: canvas.getContext("2d"),
    scale: 1,
    ox: 0,
    oy: 0,
    dpr: window.devicePixelRatio || 1,
    bitmap: null,
    mouse: null, // last pointer position in screen px, for the crosshair
    draft: null, // the box being drawn, in image px
    frame: 0,
    fitted: true, // the view is "fit to window": a resize refits instead of keeping the zoom
    filter: "", // CSS filter of the image (brightness, contrast), not of the boxes
    gamma: 1,
    onDraw,
  };
  return view;
}

export function loadBitmap(view, url) {
  const img = new Image();
  img.decoding = "async";
  img.src = url;
  return img.decode().then(() => {
    view.bitmap = img;
  });
}

export function resizeCanvas(view) {
  const { canvas } = view;
  const rect = canvas.getBoundingClientRect();
  view.dpr = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(rect.width * view.dpr));
  canvas.height = Math.max(1, Math.round(rect.height * view.dpr));
  view.width = rect.width;
  view.height = rect.height;
}

export function toImage(view, sx, sy) {
  return { x: (sx - view.ox) / view.scale, y: (sy - view.oy) / view.scale };
}

export function toScreen(view, x, y) {
  return { x: x * view.scale + view.ox, y: y * view.scale + view.oy };
}

export function refit(view, width, height) {
  // After a window resize: refit when the user has not zoomed, else keep the centre still.
  const cx = view.width / 2;
  const cy = view.height / 2;
  const centre = toImage(view, cx, cy);
  resizeCanvas(view);
  if (view.fitted) return fit(view, width, height);
  view.ox = view.width / 2 - centre.x * view.scale;
  view.oy = view.height / 2 - centre.y * view.scale;
}

export function fit(view, width, height) {
  const margin = 10;
  view.fitted = true;
  const scale = Math.min((view.width - 2 * margin) / width, (view.height - 2 * margin) / height);
  view.scale = Math.max(MIN_SCALE, Math.min(MAX_SCALE, scale));
  view.ox = (view.width - width * view.scale) / 2;
  view.oy = (view.height - height * view.scale) / 2;
}

export function zoomAt(view, sx, sy, factor) {
  // Keep the image point under the cursor fixed while the scale changes.
  const scale = Math.max(MIN_SCALE, Math.min(MAX_SCALE, view.scale * factor));
  const p = toImage(view, sx, sy);
  view.fitted = false;
  view.scale = scale;
  view.ox = sx - p.x * scale;
  view.oy = sy - p.y * scale;
}

export function panBy(view, dx, dy) {
  view.fitted = false;
  view.ox += dx;
  view.oy += dy;
}

export function centreOn(view, box) {
  const s = toScreen(view, box.x, box.y);
  const inside =
    s.x >= 0 && s.y >= 0 && s.x + box.w * view.scale <= view.width &&
    s.y + box.h * view.scale <= view.height;
  if (inside) return;
  view.fitted = false;
  view.ox = view.width / 2 - (box.x + box.w / 2) * view.scale;
  view.oy = view.height / 2 - (box.y + box.h / 2) * view.scale;
}

export function requestDraw(view, state) {
  if (view.frame) return;
  view.frame = requestAnimationFrame(() => {
    // The script's own cost of a frame (draw + publish), for scripts/bench_annotator.py.
    const t0 = performance.now();
    view.frame = 0;
    view.redraw = () => requestDraw(view, state);
    render(view, state);
    view.onDraw();
    view.canvas.dataset.frameMs = (performance.now() - t0).toFixed(3);
  });
}

export function handlePoints(box) {
  const { x, y, w, h } = box;
  return {
    nw: [x, y], n: [x + w / 2, y], ne: [x + w, y], e: [x + w, y + h / 2],
    se: [x + w, y + h], s: [x + w / 2, y + h], sw: [x, y + h], w: [x, y + h / 2],
  };
}

const MAX_CAPTIONS = 300; // past this many boxes on screen, captions are noise and cost frames

function screenRect(view, box) {
  const s = toScreen(view, box.x, box.y);
  const w = box.w * view.scale;
  const h = box.h * view.scale;
  if (s.x > view.width || s.y > view.height || s.x + w < 0 || s.y + h < 0) return null;
  return [s.x, s.y, w, h];
}

export function colourOf(state, box) {
  const label = labelOf(state, box);
  return (label && label.colour) || STYLE.fallbackColour;
}

export function captionOf(state, box) {
  const label = labelOf(state, box);
  const name = label ? label.name : box.label;
  return box.status === "proposed" && box.score != null ? `${name} ${box.score.toFixed(2)}` : name;
}

function strokeStyled(ctx, status, colour, rects, width) {
  // Halo first (contrast on any background), then the colour; proposals get white gaps.
  ctx.globalAlpha = status === "rejected" ? 0.45 : 1;
  ctx.setLineDash([]);
  ctx.strokeStyle = STYLE.halo;
  ctx.lineWidth = width + 2;
  for (const [x, y, w, h] of rects) ctx.strokeRect(x, y, w, h);
  if (status === "proposed") {
    ctx.strokeStyle = STYLE.proposalGap;
    ctx.lineWidth = width;
    for (const [x, y, w, h] of rects) ctx.strokeRect(x, y, w, h);
    ctx.setLineDash([8, 5]);
  } else if (status === "rejected") {
    ctx.setLineDash([3, 3]);
  }
  ctx.strokeStyle = status === "rejected" ? STYLE.rejected : colour;
  ctx.lineWidth = width;
  for (const [x, y, w, h] of rects) ctx.strokeRect(x, y, w, h);
  ctx.setLineDash([]);
  ctx.globalAlpha = 1;
}

function drawCaption(ctx, text, colour, [x, y, , h]) {
  // A dark tag above the box (inside it at the top edge) with a colour chip: readable on
  // any stain, and score and label never overlap because they are one string.
  const w = ctx.measureText(text).width + 12;
  const ty = y >= TAG_H ? y - TAG_H : Math.min(y + 1, y + h - TAG_H);
  ctx.fillStyle = STYLE.tag;
  ctx.fillRect(x, ty, w, TAG_H);
  ctx.fillStyle = colour;
  ctx.fillRect(x, ty, 4, TAG_H);
  ctx.fillStyle = STYLE.tagText;
  ctx.fillText(text, x + 7, ty + TAG_H - 4);
}

function strokeGroups(ctx, view, state) {
  // Grouped by colour and status so the canvas state changes a few times, not per box.
  // (One path of many rects is slower: Skia dashes and rasterises the whole path at once.)
  const groups = new Map();
  const captions = [];
  for (const box of state.boxes.values()) {
    if (!isShown(state, box) || state.selected.has(box.key)) continue;
    const rect = screenRect(view, box);
    if (!rect) continue;
    const colour = colourOf(state, box);
    const key = `${box.status}|${colour}`;
    if (!groups.has(key)) groups.set(key, { status: box.status, colour, rects: [] });
    groups.get(key).rects.push(rect);
    if (box.status !== "rejected" && captions.length <= MAX_CAPTIONS) captions.push([box, rect, colour]);
  }
  for (const { status, colour, rects } of groups.values()) {
    strokeStyled(ctx, status, colour, rects, status === "rejected" ? 1.5 : 2);
  }
  if (captions.length > MAX_CAPTIONS) return;
  for (const [box, rect, colour] of captions) drawCaption(ctx, captionOf(state, box), colour, rect);
}

function strokeHover(ctx, view, state) {
  const box = state.hoverKey != null ? state.boxes.get(state.hoverKey) : null;
  const rect = box && screenRect(view, box);
  if (!rect) return;
  const [x, y, w, h] = rect;
  ctx.fillStyle = "rgba(255,255,255,0.25)";
  ctx.fillRect(x, y, w, h);
  strokeStyled(ctx, "accepted", STYLE.hover, [rect], 3);
}

function strokeSelected(ctx, view, state, box) {
  const colour = colourOf(state, box);
  const rect = screenRect(view, box);
  if (!rect) return;
  const [x, y, w, h] = rect;
  strokeStyled(ctx, box.status, colour, [rect], 3);
  ctx.globalAlpha = 0.2;
  ctx.fillStyle = colour;
  ctx.fillRect(x, y, w, h);
  ctx.globalAlpha = 1;
  drawCaption(ctx, captionOf(state, box), colour, rect);
  ctx.fillStyle = "#ffffff";
  ctx.strokeStyle = "#000000";
  ctx.lineWidth = 1;
  for (const [hx, hy] of Object.values(handlePoints(box))) {
    const p = toScreen(view, hx, hy);
    ctx.fillRect(p.x - HANDLE_PX / 2, p.y - HANDLE_PX / 2, HANDLE_PX, HANDLE_PX);
    ctx.strokeRect(p.x - HANDLE_PX / 2, p.y - HANDLE_PX / 2, HANDLE_PX, HANDLE_PX);
  }
}

export function render(view, state) {
  const { ctx, canvas } = view;
  ctx.setTransform(view.dpr, 0, 0, view.dpr, 0, 0);
  ctx.fillStyle = STYLE.background;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const { width, height } = state.image;
  if (view.bitmap) {
    ctx.imageSmoothingEnabled = view.scale < 2; // show real pixels when zoomed in
    ctx.filter = view.filter || "none";
    ctx.drawImage(view.bitmap, view.ox, view.oy, width * view.scale, height * view.scale);
    ctx.filter = "none";
  }
  ctx.font = STYLE.font;
  if (usesLayer(state)) drawBoxLayer(view, state, (c) => strokeGroups(c, view, state), view.redraw);
  else strokeGroups(ctx, view, state);
  strokeHover(ctx, view, state);
  // Selected boxes last, so their handles are on top.
  for (const key of state.selected) {
    const box = state.boxes.get(key);
    if (box) strokeSelected(ctx, view, state, box);
  }
  if (view.draft) {
    const s = toScreen(view, view.draft.x, view.draft.y);
    ctx.strokeStyle = STYLE.draft;
    ctx.lineWidth = 1;
    ctx.setLineDash([4, 3]);
    ctx.strokeRect(s.x, s.y, view.draft.w * view.scale, view.draft.h * view.scale);
    ctx.setLineDash([]);
  }
  if (view.mouse) {
    ctx.strokeStyle = STYLE.crosshair;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(0, Math.round(view.mouse.y) + 0.5);
    ctx.lineTo(view.width, Math.round(view.mouse.y) + 0.5);
    ctx.moveTo(Math.round(view.mouse.x) + 0.5, 0);
    ctx.lineTo(Math.round(view.mouse.x) + 0.5, view.height);
    ctx.stroke();
  }
  drawMinimap(ctx, view, state); // last: on top of the crosshair
}
