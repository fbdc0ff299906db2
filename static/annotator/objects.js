// The objects panel: every box of the image grouped by label, with counts, per-label
// hide/show and lock, and one row per box (status, score) that highlights the box on hover and
// selects it on click.
//
// Rebuilt only when what it lists changes (a signature of counts, labels, selection and
// toggles), never on pan/zoom frames; past ROW_LIMIT rows per label it says how many more, so
// 2,000 boxes cost a few hundred DOM rows at most.

import { labelOf } from "./state.js";

const ROW_LIMIT = 200;
const STATUS_ORDER = { proposed: 0, accepted: 1, rejected: 2 };

function grouped(state) {
  const groups = new Map(state.labels.map((l) => [l.id, { label: l, boxes: [] }]));
  for (const box of state.boxes.values()) {
    const label = labelOf(state, box);
    const id = label ? label.id : box.label_id;
    if (!groups.has(id)) groups.set(id, { label: label || { id, name: box.label }, boxes: [] });
    groups.get(id).boxes.push(box);
  }
  for (const g of groups.values()) {
    g.boxes.sort(
      (a, b) => STATUS_ORDER[a.status] - STATUS_ORDER[b.status] ||
        (b.score ?? 1) - (a.score ?? 1) || a.y - b.y || a.x - b.x,
    );
  }
  return [...groups.values()];
}

export function signature(state) {
  // Cheap (one pass) and exact enough: rebuild when a count, status, label, selection or
  // toggle changes; geometry alone does not change the panel.
  let acc = 0;
  for (const box of state.boxes.values()) {
    acc = (acc * 31 + (box.label_id || 0) * 7 + (STATUS_ORDER[box.status] || 0) + (box.id || 0)) % 1e9;
  }
  return [
    state.boxes.size, acc, [...state.selected].join(","), [...state.hiddenLabels].join(","),
    [...state.lockedLabels].join(","), state.labels.map((l) => `${l.id}:${l.name}`).join(","),
  ].join("|");
}

function toggle(text, pressed, title, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "object-toggle";
  button.textContent = text;
  button.title = title;
  button.setAttribute("aria-pressed", String(pressed));
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    onClick();
  });
  return button;
}

function boxRow(state, box, actions) {
  const li = document.createElement("li");
  li.className = "object-row";
  li.dataset.boxKey = String(box.key);
  li.dataset.status = box.status;
  if (box.id != null) li.dataset.boxId = String(box.id);
  if (state.selected.has(box.key)) li.setAttribute("aria-selected", "true");
  const status = document.createElement("span");
  status.className = `object-status status-${box.status}`;
  status.textContent = box.status;
  const score = document.createElement("span");
  score.className = "object-score";
  score.textContent = box.score != null ? box.score.toFixed(2) : "";
  const where = document.createElement("span");
  where.className = "object-where";
  where.textContent = `${Math.round(box.x)},${Math.round(box.y)} ${Math.round(box.w)}×${Math.round(box.h)}`;
  li.append(status, score, where);
  li.addEventListener("mouseenter", () => actions.hover(box.key));
  li.addEventListener("mouseleave", () => actions.hover(null));
  li.addEventListener("click", (event) => actions.pick(box, event.shiftKey));
  return li;
}

function groupHeader(state, group, actions) {
  const { label, boxes } = group;
  const n = { accepted: 0, proposed: 0, rejected: 0 };
  for (const b of boxes) n[b.status] += 1;
  const head = document.createElement("div");
  head.className = "object-group-head";
  const chip = document.createElement("span");
  chip.className = "label-swatch";
  chip.style.backgroundColor = label.colour || "#ff00ff";
  const name = document.createElement("span");
  name.className = "label-name";
  name.textContent = label.name;
  const count = document.createElement("span");
  count.className = "object-count";
  count.textContent = `${n.accepted} ✓ · ${n.proposed} ?` + (n.rejected ? ` · ${n.rejected} ✗` : "");
  count.title = `${n.accepted} accepted, ${n.proposed} proposed, ${n.rejected} rejected`;
  const hidden = state.hiddenLabels.has(label.id);
  const locked = state.lockedLabels.has(label.id);
  head.append(
    chip, name, count,
    toggle(hidden ? "show" : "hide", hidden, `Hide / show ${label.name} boxes`, () => actions.hide(label.id)),
    toggle(locked ? "unlock" : "lock", locked, `Lock / unlock ${label.name} boxes`, () => actions.lock(label.id)),
  );  // fmt: skip
  return head;
}

export function renderObjects(list, state, actions) {
  list.replaceChildren();
  for (const group of grouped(state)) {
    const section = document.createElement("li");
    section.className = "object-group";
    section.dataset.labelId = String(group.label.id);
    section.dataset.count = String(group.boxes.length);
    section.dataset.hidden = String(state.hiddenLabels.has(group.label.id));
    section.dataset.locked = String(state.lockedLabels.has(group.label.id));
    section.append(groupHeader(state, group, actions));
    const rows = document.createElement("ul");
    rows.className = "object-rows";
    for (const box of group.boxes.slice(0, ROW_LIMIT)) rows.append(boxRow(state, box, actions));
    if (group.boxes.length > ROW_LIMIT) {
      const more = document.createElement("li");
      more.className = "object-more";
      more.textContent = `… ${group.boxes.length - ROW_LIMIT} more`;
      rows.append(more);
    }
    section.append(rows);
    list.append(section);
  }
}
