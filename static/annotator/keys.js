// Every keyboard shortcut, in one table; the `?` overlay is generated from it, and a
// workspace's .labeler/hotkeys.json can give any action other keys (applyHotkeys).

export const KEYMAP = [
  { keys: ["1-9"], action: "label", help: "Label of the next box; also relabels boxes you selected (click, Tab)" },
  { keys: ["a", "Enter"], action: "accept", help: "Accept the focused proposal and focus the next (nothing focused: focus the best)" },
  { keys: ["x", "Backspace"], action: "reject", help: "Reject the focused box(es) and focus the next proposal" },
  { keys: ["a"], shift: true, action: "acceptAll", help: "Accept all shown proposals (every one at or above the Min score slider)" },
  { keys: ["x"], shift: true, action: "rejectAll", help: "Reject all shown proposals" },
  { keys: ["Tab"], action: "nextProposal", help: "Focus the next proposal (best score first, then top to bottom)" },
  { keys: ["Tab"], shift: true, action: "prevProposal", help: "Focus the previous proposal" },
  { keys: ["f"], action: "findSimilar", help: "Find similar: selected boxes (else all of the current label) as exemplars" },
  { keys: ["p"], action: "propagate", help: "Propagate the exemplars to the next / all unfinished images" },
  { keys: ["c"], action: "copyPrevious", help: "Copy the previous image's accepted boxes (the message names the image)" },
  { keys: ["c"], ctrl: true, action: "copyBoxes", help: "Copy the selected boxes" },
  { keys: ["v"], ctrl: true, action: "pasteBoxes", help: "Paste copied boxes (also on another image)" },
  { keys: ["Delete"], action: "delete", help: "Delete the selected box(es)" },
  { keys: ["z"], ctrl: true, action: "undo", help: "Undo" },
  { keys: ["z"], ctrl: true, shift: true, action: "redo", help: "Redo" },
  { keys: ["y"], ctrl: true, action: "redo", help: "Redo" },
  { keys: ["d"], action: "done", help: "Mark done and go to the next unfinished image" },
  { keys: ["e"], action: "empty", help: "Mark \u201cno objects\u201d and go to the next unfinished image" },
  { keys: ["ArrowRight"], action: "right", help: "Next image; with boxes selected: move them 1 px right" },
  { keys: ["ArrowLeft"], action: "left", help: "Previous image; with boxes selected: move them 1 px left" },
  { keys: ["ArrowUp"], action: "up", help: "Move the selected boxes 1 px up" },
  { keys: ["ArrowDown"], action: "down", help: "Move the selected boxes 1 px down" },
  { keys: ["ArrowRight"], shift: true, action: "rightFar", help: "Move the selected boxes 10 px right" },
  { keys: ["ArrowLeft"], shift: true, action: "leftFar", help: "Move the selected boxes 10 px left" },
  { keys: ["ArrowUp"], shift: true, action: "upFar", help: "Move the selected boxes 10 px up" },
  { keys: ["ArrowDown"], shift: true, action: "downFar", help: "Move the selected boxes 10 px down" },
  { keys: ["PageDown"], action: "next", help: "Next image" },
  { keys: ["PageUp"], action: "prev", help: "Previous image" },
  { keys: ["g"], action: "jump", help: "Go to an image by number or file name" },
  { keys: ["0"], action: "fit", help: "Fit the image to the window" },
  { keys: ["+", "="], action: "zoomIn", help: "Zoom in" },
  { keys: ["-"], action: "zoomOut", help: "Zoom out" },
  { keys: ["h"], action: "toggleRejected", help: "Show / hide rejected boxes" },
  { keys: ["Escape"], action: "deselect", help: "Clear the selection, close this help" },
  { keys: ["?"], any: true, action: "help", help: "Show this help" },
];

// Shown in the help but handled by the pointer tools, not by keydown.
export const MOUSE_HELP = [
  ["Drag", "Draw a box with the current label, anywhere (also inside other boxes, even the selected one)"],
  ["Drag over a proposal", "Accept that proposal with the drawn box (no duplicate)"],
  ["Click / Shift+click", "Select / add to the selection"],
  ["Drag a selected box's handles", "Resize"],
  ["Alt+drag or Ctrl+drag a box", "Move it"],
  ["Drag past the canvas edge", "Pan while drawing, moving or resizing"],
  ["Wheel", "Zoom around the cursor (about 10% a notch)"],
  ["Click / drag in the minimap", "Move the view there (shown when zoomed in)"],
  ["Space+drag, middle drag", "Pan"],
  ["Objects panel: hover / click", "Highlight / select (and show) a box; hide and lock per label"],
];

function parseKey(text) {
  // "Ctrl+Shift+z" -> {keys: ["z"], ctrl: true, shift: true}; "+" alone is the plus key.
  const parts = text.length > 1 ? text.split(/\+(?=.)/) : [text];
  const key = parts.pop();
  const mods = new Set(parts.map((p) => p.toLowerCase()));
  return {
    keys: [key.length === 1 ? key.toLowerCase() : key],
    ctrl: mods.has("ctrl") || mods.has("cmd") || mods.has("meta"),
    shift: mods.has("shift"),
  };
}

export function applyHotkeys(overrides) {
  // Replace the keys of each named action; returns the action names that are unknown.
  const unknown = [];
  for (const [action, keys] of Object.entries(overrides || {})) {
    const at = KEYMAP.findIndex((e) => e.action === action);
    if (at < 0 || action === "label") {
      unknown.push(action);
      continue;
    }
    const { help } = KEYMAP[at];
    for (let i = KEYMAP.length - 1; i >= 0; i--) if (KEYMAP[i].action === action) KEYMAP.splice(i, 1);
    KEYMAP.splice(at, 0, ...keys.map((k) => ({ ...parseKey(k), action, help })));
  }
  return unknown;
}

function isTyping(target) {
  return Boolean(target && target.closest && target.closest("input, textarea, select, [contenteditable]"));
}

function isControl(target) {
  return Boolean(target && target.closest && target.closest("button, a, summary"));
}

export function match(event) {
  const ctrl = event.ctrlKey || event.metaKey;
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  if (!ctrl && !event.altKey && /^[1-9]$/.test(event.key)) {
    return { action: "label", digit: Number(event.key) };
  }
  for (const entry of KEYMAP) {
    if (!entry.keys.includes(key)) continue;
    if (entry.any) return entry;
    if (Boolean(entry.ctrl) === ctrl && Boolean(entry.shift) === event.shiftKey) return entry;
  }
  return null;
}

function keyLabel(entry) {
  const mods = [entry.ctrl && "Ctrl", entry.shift && "Shift"].filter(Boolean);
  return entry.keys
    .map((k) => [...mods, k.length === 1 ? k.toUpperCase() : k].join("+"))
    .join(" / ");
}

export function fillHelp(table) {
  // textContent only: hotkeys.json is user data. One row per action, all its keys.
  table.replaceChildren();
  const byAction = new Map();
  for (const e of KEYMAP) {
    const row = byAction.get(`${e.action}|${e.help}`) || { keys: [], help: e.help, action: e.action };
    row.keys.push(keyLabel(e));
    byAction.set(`${e.action}|${e.help}`, row);
  }
  const rows = [
    ...[...byAction.values()].map((r) => [r.keys.join(" / "), r.help, r.action]),
    ...MOUSE_HELP.map(([k, h]) => [k, h, ""]),
  ];
  for (const [keys, help, action] of rows) {
    const tr = table.insertRow();
    if (action) tr.dataset.action = action;
    const th = document.createElement("th");
    th.textContent = keys;
    tr.append(th);
    tr.insertCell().textContent = help;
    const name = tr.insertCell(); // what to write in .labeler/hotkeys.json to change it
    name.className = "help-action";
    name.textContent = action && action !== "label" ? action : "";
  }
}

export function attachKeys({ dispatch, held, onSpace }) {
  document.addEventListener("keydown", (event) => {
    if (isTyping(event.target)) return;
    // On a focused button or link, Tab/Enter/Space keep their usual meaning.
    if (["Tab", "Enter", " "].includes(event.key) && isControl(event.target)) return;
    if (event.key === " ") {
      event.preventDefault();
      if (!held.space) onSpace(true);
      held.space = true;
      return;
    }
    const entry = match(event);
    if (!entry) return;
    event.preventDefault();
    dispatch(entry.action, entry, event);
  });
  document.addEventListener("keyup", (event) => {
    if (event.key === " ") {
      held.space = false;
      onSpace(false);
    }
  });
  window.addEventListener("blur", () => {
    held.space = false;
  });
}
