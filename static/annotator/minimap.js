// The minimap: when zoomed in so that part of the image is off screen, a small copy of the
// whole image in the stage's bottom-right corner with the visible part outlined; clicking or
// dragging in it moves the view there.
//
// Drawn into the main canvas (no extra element), so it costs one small drawImage a frame and
// the pointer tools ask minimapAt() before anything else.

// view.js draws it: the screen-to-image mapping is repeated here to keep imports one-way.
function toImage(view, sx, sy) {
  return { x: (sx - view.ox) / view.scale, y: (sy - view.oy) / view.scale };
}

const SIDE = 180; // px, the minimap's longer side
const MARGIN = 10;
const STYLE = {
  frame: "rgba(0,0,0,0.6)",
  border: "rgba(255,255,255,0.8)",
  visible: "#ffd400",
};

export function minimapRect(view, state) {
  const { width, height } = state.image;
  const tl = toImage(view, 0, 0);
  const br = toImage(view, view.width, view.height);
  const whole = tl.x <= 0 && tl.y <= 0 && br.x >= width && br.y >= height;
  if (whole || !view.bitmap || view.width < 3 * SIDE) return null;
  const s = SIDE / Math.max(width, height);
  const w = width * s;
  const h = height * s;
  return { x: view.width - w - MARGIN, y: view.height - h - MARGIN, w, h, s };
}

export function drawMinimap(ctx, view, state) {
  const r = minimapRect(view, state);
  view.minimap = r;
  if (!r) return;
  ctx.fillStyle = STYLE.frame;
  ctx.fillRect(r.x - 3, r.y - 3, r.w + 6, r.h + 6);
  ctx.filter = view.filter || "none";
  ctx.drawImage(view.bitmap, r.x, r.y, r.w, r.h);
  ctx.filter = "none";
  ctx.strokeStyle = STYLE.border;
  ctx.lineWidth = 1;
  ctx.strokeRect(r.x - 0.5, r.y - 0.5, r.w + 1, r.h + 1);
  const tl = toImage(view, 0, 0);
  const br = toImage(view, view.width, view.height);
  const x0 = Math.max(tl.x, 0) * r.s;
  const y0 = Math.max(tl.y, 0) * r.s;
  const x1 = Math.min(br.x, state.image.width) * r.s;
  const y1 = Math.min(br.y, state.image.height) * r.s;
  ctx.strokeStyle = STYLE.visible;
  ctx.lineWidth = 2;
  ctx.strokeRect(r.x + x0, r.y + y0, x1 - x0, y1 - y0);
}

export function minimapAt(view, p) {
  // The image point under screen point p if p is on the minimap, else null.
  const r = view.minimap;
  if (!r || p.x < r.x || p.y < r.y || p.x > r.x + r.w || p.y > r.y + r.h) return null;
  return { x: (p.x - r.x) / r.s, y: (p.y - r.y) / r.s };
}

export function centreAt(view, ip) {
  view.fitted = false;
  view.ox = view.width / 2 - ip.x * view.scale;
  view.oy = view.height / 2 - ip.y * view.scale;
}
