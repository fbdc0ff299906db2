// Every keyboard shortcut, in one table; the `?` overlay is generated from it.

export const KEYMAP = [
  { keys: ["1-9"], action: "label", help: "Pick label (and relabel the selected boxes)" },
  { keys: ["a", "Enter"], action: "accept", help: "Accept the selected proposal(s)" },
  { keys: ["x", "Backspace"], action: "reject", help: "Reject the selected box(es)" },
  { keys: ["a"], shift: true, action: "acceptAll", help: "Accept all shown proposals" },
  { keys: ["x"], shift: true, action: "rejectAll", help: "Reject all shown proposals" },
  { keys: ["Tab"], action: "nextProposal", help: "Select the next proposal" },
  { keys: ["Tab"], shift: true, action: "prevProposal", help: "Select the previous proposal" },
  { keys: ["f"], action: "findSimilar", help: "Find similar: selected boxes (else all of the current label) as exemplars" },
  { keys: ["p"], action: "propagate", help: "Propagate the exemplars to the next / all unfinished images" },
  { keys: ["c"], action: "copyPrevious", help: "Copy the previous image's boxes" },
  { keys: ["Delete"], action: "delete", help: "Delete the selected box(es)" },
  { keys: ["z"], ctrl: true, action: "undo", help: "Undo" },
  { keys: ["z"], ctrl: true, shift: true, action: "redo", help: "Redo" },
  { keys: ["y"], ctrl: true, action: "redo", help: "Redo" },
  { keys: ["d"], action: "done", help: "Mark done and go to the next unfinished image" },
  { keys: ["e"], action: "empty", help: "Mark \u201cno objects\u201d and go to the next unfinished image" },
  { keys: ["ArrowRight"], action: "next", help: "Next image" },
  { keys: ["ArrowLeft"], action: "prev", help: "Previous image" },
  { keys: ["0"], action: "fit", help: "Fit the image to the window" },
  { keys: ["+", "="], action: "zoomIn", help: "Zoom in" },
  { keys: ["-"], action: "zoomOut", help: "Zoom out" },
  { keys: ["h"], action: "toggleRejected", help: "Show / hide rejected boxes" },
  { keys: ["Escape"], action: "deselect", help: "Clear the selection, close this help" },
  { keys: ["?"], any: true, action: "help", help: "Show this help" },
];

// Shown in the help but handled by the pointer tools, not by keydown.
export const MOUSE_HELP = [
  ["Drag", "Draw a box with the current label (also over other boxes)"],
  ["Click / Shift+click", "Select / add to the selection"],
  ["Drag a selected box or its handles", "Move / resize"],
  ["Wheel", "Zoom around the cursor"],
  ["Space+drag, middle drag", "Pan"],
];

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
  // textContent only: the help is built from constants, but keep the habit.
  table.replaceChildren();
  const rows = [...KEYMAP.map((e) => [keyLabel(e), e.help]), ...MOUSE_HELP];
  for (const [keys, help] of rows) {
    const tr = table.insertRow();
    const th = document.createElement("th");
    th.textContent = keys;
    tr.append(th);
    tr.insertCell().textContent = help;
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
