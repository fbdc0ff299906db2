// Pointer tools: draw a box by dragging, select, move, resize by handles, pan, wheel zoom.
//
// A plain drag always draws (cells overlap: the drag often starts inside another box, even the
// selected one); only the selected box's handles resize, and Alt/Ctrl+drag moves a box. Geometry
// changes are shown live and committed once on pointer-up, so one drag is one saved edit and
// one undo step. Dragging past the canvas edge pans the view (so a box can be drawn past what
// is on screen when zoomed) and the box clamps to the image.

import { centreAt, minimapAt } from "./minimap.js";
import { clampBox, geometry, isLocked, isShown, select } from "./state.js";
import { HANDLE_PX, handlePoints, panBy, toImage, toScreen, zoomAt } from "./view.js";

const MIN_DRAG_PX = 3; // smaller drags are clicks, not boxes
const WHEEL_NOTCH = 100; // deltaY of one mouse-wheel notch in pixel mode (Chromium, Firefox)
const WHEEL_STEP = 1.1; // zoom per notch: 4 notches are about 1.5x, not 4.5x
const LINE_PX = 33; // deltaMode 1 (lines) to pixels
const EDGE_PAN_GAIN = 0.25; // of the overshoot past the edge, per frame
const EDGE_PAN_MAX = 30; // px per frame
const CURSORS = {
  nw: "nwse-resize", se: "nwse-resize", ne: "nesw-resize", sw: "nesw-resize",
  n: "ns-resize", s: "ns-resize", e: "ew-resize", w: "ew-resize",
  move: "move", pan: "grabbing", draw: "crosshair",
};

function pointOf(canvas, event) {
  const rect = canvas.getBoundingClientRect();
  return { x: event.clientX - rect.left, y: event.clientY - rect.top };
}

function hitHandle(view, state, p) {
  for (const key of state.selected) {
    const box = state.boxes.get(key);
    if (!box || isLocked(state, box)) continue;
    for (const [name, [hx, hy]] of Object.entries(handlePoints(box))) {
      const s = toScreen(view, hx, hy);
      if (Math.abs(s.x - p.x) <= HANDLE_PX && Math.abs(s.y - p.y) <= HANDLE_PX) {
        return { box, handle: name };
      }
    }
  }
  return null;
}

export function hitBox(state, ip) {
  // The smallest box under the point wins, so a box inside another stays clickable.
  // Hidden and locked labels' boxes are not hit: a click there draws or selects what is under.
  let best = null;
  for (const box of state.boxes.values()) {
    if (!isShown(state, box) || isLocked(state, box)) continue;
    if (ip.x < box.x || ip.y < box.y || ip.x > box.x + box.w || ip.y > box.y + box.h) continue;
    if (!best || box.w * box.h < best.w * best.h) best = box;
  }
  return best;
}

function resized(orig, handle, dx, dy) {
  let x0 = orig.x;
  let y0 = orig.y;
  let x1 = orig.x + orig.w;
  let y1 = orig.y + orig.h;
  if (handle.includes("w")) x0 += dx;
  if (handle.includes("e")) x1 += dx;
  if (handle.includes("n")) y0 += dy;
  if (handle.includes("s")) y1 += dy;
  // Dragging a handle past the opposite edge flips the box instead of inverting it.
  return {
    x: Math.min(x0, x1), y: Math.min(y0, y1), w: Math.abs(x1 - x0), h: Math.abs(y1 - y0),
  };
}

export function wheelFactor(event) {
  // One notch zooms by WHEEL_STEP whatever the device reports; a touchpad's small deltas
  // zoom in proportion.
  const px = event.deltaMode === 1 ? event.deltaY * LINE_PX : event.deltaY;
  const notches = Math.max(-1, Math.min(1, px / WHEEL_NOTCH));
  return WHEEL_STEP ** -notches;
}

function edgeOvershoot(view, p) {
  const over = (v, size) => (v < 0 ? v : v > size ? v - size : 0);
  return { x: over(p.x, view.width), y: over(p.y, view.height) };
}

export function attachTools({ canvas, view, state, held, redraw, edits }) {
  let drag = null;
  let edgeFrame = 0;

  function start(event) {
    const p = pointOf(canvas, event);
    const ip = toImage(view, p.x, p.y);
    if (event.button === 1 || (event.button === 0 && held.space)) {
      return { mode: "pan", last: p };
    }
    if (event.button !== 0) return null;
    const spot = minimapAt(view, p);
    if (spot) {
      centreAt(view, spot);
      return { mode: "minimap" };
    }
    const handle = hitHandle(view, state, p);
    if (handle) {
      return { mode: handle.handle, box: handle.box, orig: geometry(handle.box), start: ip, p };
    }
    const box = hitBox(state, ip);
    if (box && (event.altKey || event.ctrlKey || event.metaKey)) {
      select(state, box);
      return { mode: "move", box, orig: geometry(box), start: ip, p };
    }
    // Anywhere else a drag draws, even over boxes; a click without a drag selects.
    return { mode: "draw", start: ip, p, clicked: box, shift: event.shiftKey };
  }

  function apply(p) {
    const ip = toImage(view, p.x, p.y);
    if (drag.mode === "minimap") {
      const spot = minimapAt(view, p);
      if (spot) centreAt(view, spot);
    } else if (drag.mode === "pan") {
      panBy(view, p.x - drag.last.x, p.y - drag.last.y);
      drag.last = p;
    } else if (drag.mode === "draw") {
      view.draft = clampBox(state, {
        x: Math.min(drag.start.x, ip.x), y: Math.min(drag.start.y, ip.y),
        w: Math.abs(ip.x - drag.start.x), h: Math.abs(ip.y - drag.start.y),
      });
    } else if (drag.mode === "move") {
      const { orig } = drag;
      const W = state.image.width;
      const H = state.image.height;
      drag.box.x = Math.min(Math.max(orig.x + ip.x - drag.start.x, 0), W - orig.w);
      drag.box.y = Math.min(Math.max(orig.y + ip.y - drag.start.y, 0), H - orig.h);
    } else {
      const g = clampBox(state, resized(drag.orig, drag.mode, ip.x - drag.start.x, ip.y - drag.start.y));
      Object.assign(drag.box, g);
    }
  }

  function edgePan() {
    // While a draw/move/resize is held past the canvas edge, pan a little every frame.
    edgeFrame = 0;
    if (!drag || drag.mode === "pan" || drag.mode === "minimap" || !drag.lastPoint) return;
    const over = edgeOvershoot(view, drag.lastPoint);
    if (!over.x && !over.y) return;
    const step = (v) => -Math.sign(v) * Math.min(EDGE_PAN_MAX, Math.abs(v) * EDGE_PAN_GAIN + 2);
    panBy(view, over.x ? step(over.x) : 0, over.y ? step(over.y) : 0);
    view.fitted = false;
    apply(drag.lastPoint);
    redraw();
    edgeFrame = requestAnimationFrame(edgePan);
  }

  function update(event) {
    const p = pointOf(canvas, event);
    view.mouse = p;
    if (!drag) {
      canvas.style.cursor = hoverCursor(p, event);
      return;
    }
    drag.lastPoint = p;
    apply(p);
    if (drag.mode === "pan") view.fitted = false;
    canvas.style.cursor = CURSORS[drag.mode] || "crosshair";
    const over = edgeOvershoot(view, p);
    if ((over.x || over.y) && !edgeFrame && drag.mode !== "pan" && drag.mode !== "minimap") {
      edgeFrame = requestAnimationFrame(edgePan);
    }
  }

  function finish(event) {
    const p = pointOf(canvas, event);
    const moved = Math.hypot(p.x - (drag.p || p).x, p.y - (drag.p || p).y) >= MIN_DRAG_PX;
    if (drag.mode === "draw") {
      const draft = view.draft;
      view.draft = null;
      if (moved && draft && draft.w >= 1 && draft.h >= 1) edits.createBox(draft);
      else if (!moved) select(state, drag.clicked, { add: drag.shift });
    } else if (drag.mode !== "pan" && drag.mode !== "minimap") {
      const now = geometry(drag.box);
      const changed = ["x", "y", "w", "h"].some((k) => now[k] !== drag.orig[k]);
      if (changed && moved && now.w >= 1 && now.h >= 1) edits.setGeometry(drag.box, drag.orig, now);
      else Object.assign(drag.box, drag.orig);
    }
    drag = null;
    cancelAnimationFrame(edgeFrame);
    edgeFrame = 0;
  }

  function hoverCursor(p, event) {
    if (held.space) return "grab";
    if (minimapAt(view, p)) return "pointer";
    const handle = hitHandle(view, state, p);
    if (handle) return CURSORS[handle.handle];
    const modifier = event.altKey || event.ctrlKey || event.metaKey;
    return modifier && hitBox(state, toImage(view, p.x, p.y)) ? "move" : "crosshair";
  }

  canvas.addEventListener("pointerdown", (event) => {
    canvas.focus();
    drag = start(event);
    if (drag) {
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
    }
    redraw();
  });
  canvas.addEventListener("pointermove", (event) => {
    update(event);
    redraw();
  });
  canvas.addEventListener("pointerup", (event) => {
    if (!drag) return;
    update(event);
    finish(event);
    redraw();
  });
  canvas.addEventListener("pointerleave", () => {
    if (drag) return;
    view.mouse = null;
    redraw();
  });
  canvas.addEventListener(
    "wheel",
    (event) => {
      event.preventDefault();
      const p = pointOf(canvas, event);
      zoomAt(view, p.x, p.y, wheelFactor(event));
      redraw();
    },
    { passive: false },
  );
  // The middle button pans here; stop the browser's autoscroll and paste-on-click.
  canvas.addEventListener("mousedown", (event) => {
    if (event.button === 1) event.preventDefault();
  });
  canvas.addEventListener("auxclick", (event) => event.preventDefault());
}
