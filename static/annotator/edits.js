// Every edit of a box, as an undoable command that updates the screen at once and queues
// the matching API call.
//
// A queued call captures *what* to send when the edit is made but reads the box's server
// id and version only when it runs, because an earlier queued call (the create, or the
// previous patch) is what produces them. Server answers update only id/version and
// server-owned fields, never geometry the user may have changed meanwhile.

import {
  addBox, applyServerBox, boxByServerId, geometry, labelById, labelOf, putBox, removeBox,
  select,
} from "./state.js";

function meta(box, data) {
  if (!data) return;
  for (const field of ["id", "version", "label_id", "source", "is_exemplar"]) {
    if (data[field] !== undefined) box[field] = data[field];
  }
  if (box.score == null && data.score != null) box.score = data.score;
}

export function createEdits({ state, api, redraw }) {
  const imagePath = () => `/images/${state.image.id}`;

  function started() {
    // The server's rule (store/boxes.py): the first accepted box puts a new image in progress.
    if (state.image.state === "new") state.image.state = "in_progress";
  }

  function labelName(box) {
    const label = labelOf(state, box);
    return label ? label.name : box.label;
  }

  // --- queued server calls -------------------------------------------------------------
  function saveCreate(box) {
    // Status, score and source too: undoing a delete re-creates the box as it was.
    const body = { label: labelName(box), ...geometry(box), source: box.source || "user" };
    const status = box.status;
    if (status !== "accepted") Object.assign(body, { status, score: box.score });
    api.enqueue(async () => {
      const data = await api.post(`${imagePath()}/boxes`, body);
      meta(box, data); // created with the status sent: no second call to restore it
    });
    if (status === "accepted") started();
  }

  function saveDelete(box) {
    api.enqueue(async () => {
      if (box.id == null) return;
      // With the version: deleting a box another tab has changed is a conflict, not a win.
      await api.del(`/boxes/${box.id}?version=${box.version}`);
      box.id = null; // only now: a retried delete must still know what to delete
    });
  }

  function savePatch(box, fields) {
    if (fields.status === "accepted") started();
    api.enqueue(async () => {
      meta(box, await api.patch(`/boxes/${box.id}`, { ...fields, version: box.version }));
    });
  }

  function syncVersions(boxes, data) {
    // POST /boxes/decide answers {boxes: [...]}, every decided box with its new version.
    for (const item of data.boxes) {
      const box = boxByServerId(state, item.id);
      if (box && boxes.includes(box)) box.version = item.version;
    }
  }

  function saveDecide(boxes, status) {
    api.enqueue(async () => {
      const saved = boxes.filter((b) => b.id != null);
      if (!saved.length) return;
      const body = { ids: saved.map((b) => b.id), versions: saved.map((b) => b.version), status };
      syncVersions(boxes, await api.post("/boxes/decide", body));
    });
    if (status === "accepted") started();
  }

  // --- undo history --------------------------------------------------------------------
  function commit(command) {
    command.do();
    state.undo.push(command);
    state.redo.length = 0;
    redraw();
  }

  function undo() {
    const command = state.undo.pop();
    if (!command) return false;
    command.undo();
    state.redo.push(command);
    redraw();
    return true;
  }

  function redo() {
    const command = state.redo.pop();
    if (!command) return false;
    command.do();
    state.undo.push(command);
    redraw();
    return true;
  }

  function compound(commands) {
    return {
      do: () => commands.forEach((c) => c.do()),
      undo: () => [...commands].reverse().forEach((c) => c.undo()),
    };
  }

  // --- commands ------------------------------------------------------------------------
  function creation(box) {
    return {
      do() {
        putBox(state, box);
        saveCreate(box);
      },
      undo() {
        removeBox(state, box);
        saveDelete(box);
      },
    };
  }

  function deletion(box) {
    const c = creation(box);
    return { do: c.undo, undo: c.do };
  }

  function createBox(rect, { labelId = state.currentLabelId } = {}) {
    const label = labelById(state, labelId);
    if (!label) return null;
    const box = addBox(state, {
      ...rect, label: label.name, label_id: label.id, status: "accepted", source: "user",
    });
    removeBox(state, box); // creation().do() puts it back; keeps redo symmetric
    commit(creation(box));
    // Selected for its handles, but not on purpose: the next digit picks the next box's label.
    select(state, box, { deliberate: false });
    return box;
  }

  function adoptProposal(box, rect, { labelId = state.currentLabelId } = {}) {
    // Drawing over a proposal accepts it with the drawn geometry (and label) in one PATCH:
    // no duplicate box, and the ranker learns "useful, adjusted" instead of a rejection.
    const label = labelById(state, labelId);
    if (!label) return null;
    const before = { ...geometry(box), status: box.status, label_id: box.label_id, label: box.label };
    const after = { ...rect, status: "accepted", label_id: label.id, label: label.name };
    const change = (g) => () => {
      Object.assign(box, g);
      savePatch(box, { ...geometry(g), status: g.status, label: g.label });
    };
    commit({ do: change(after), undo: change(before) });
    select(state, box, { deliberate: false });
    return box;
  }

  function moveBoxes(boxes, dx, dy) {
    // Arrow-key nudges: one undo step per key press, kept inside the image.
    const W = state.image.width;
    const H = state.image.height;
    const commands = boxes.map((box) => {
      const from = geometry(box);
      const to = {
        ...from,
        x: Math.min(Math.max(from.x + dx, 0), W - from.w),
        y: Math.min(Math.max(from.y + dy, 0), H - from.h),
      };
      const change = (g) => () => {
        Object.assign(box, g);
        savePatch(box, g);
      };
      return { do: change(to), undo: change(from) };
    });
    if (commands.length) commit(compound(commands));
  }

  function createMany(rects) {
    const boxes = rects.map((r) => {
      const box = addBox(state, { ...r, status: "accepted", source: "user" });
      removeBox(state, box);
      return box;
    });
    if (boxes.length) commit(compound(boxes.map(creation)));
    return boxes;
  }

  function deleteBoxes(boxes) {
    if (boxes.length) commit(compound(boxes.map(deletion)));
  }

  function setGeometry(box, from, to) {
    const change = (g) => () => {
      Object.assign(box, g);
      savePatch(box, g);
    };
    commit({ do: change(to), undo: change(from) });
  }

  function relabel(boxes, labelId) {
    const label = labelById(state, labelId);
    const targets = boxes.filter((b) => b.label_id !== labelId);
    if (!label || !targets.length) return;
    const before = targets.map((b) => labelOf(state, b) || { id: b.label_id, name: b.label });
    const apply = (b, l) => {
      b.label_id = l.id;
      b.label = l.name;
      savePatch(b, { label: l.name });
    };
    commit({
      do: () => targets.forEach((b) => apply(b, label)),
      undo: () => targets.forEach((b, i) => apply(b, before[i])),
    });
  }

  function decide(boxes, status) {
    const targets = boxes.filter((b) => b.status !== status);
    if (!targets.length) return;
    const before = targets.map((b) => b.status);
    commit({
      do() {
        targets.forEach((b) => {
          b.status = status;
        });
        saveDecide(targets, status);
      },
      undo() {
        targets.forEach((b, i) => {
          b.status = before[i];
          savePatch(b, { status: before[i] });
        });
      },
    });
  }

  function replaceProposals(data) {
    // The server says which undecided proposals it replaced; without that list, assume all.
    // Returns both sides so that undo can put the replaced proposals back.
    const removedIds = Array.isArray(data.removed) ? new Set(data.removed) : null;
    const removed = [];
    for (const box of [...state.boxes.values()]) {
      if (box.status !== "proposed") continue;
      if (removedIds ? removedIds.has(box.id) : true) {
        removeBox(state, box);
        removed.push(box);
      }
    }
    const added = (data.proposals || []).map((item) => applyServerBox(addBox(state, {}), item));
    // Undecided proposals the server moved onto a more probable candidate: same id, new box.
    const updated = [];
    for (const item of data.updated || []) {
      const box = boxByServerId(state, item.id);
      if (!box) continue;
      updated.push({ box, before: { ...geometry(box), score: box.score } });
      applyServerBox(box, item);
    }
    return { added, removed, updated };
  }

  function findSimilar(exemplars, { minScore } = {}) {
    // Undo removes the proposals found, re-creates the ones they replaced (with their
    // scores and source) and moves updated ones back; redo asks the matcher again.
    const command = {
      added: [],
      removed: [],
      updated: [],
      do: () => run(false),
      undo() {
        command.updated.forEach(({ box, before }) => {
          if (!state.boxes.has(box.key)) return;
          Object.assign(box, before);
          savePatch(box, geometry(before));
        });
        command.added.forEach((b) => {
          if (!state.boxes.has(b.key)) return;
          removeBox(state, b);
          saveDelete(b);
        });
        command.removed.forEach((b) => {
          b.id = null; // the server deleted it: the re-create gives it a new id
          putBox(state, b);
          saveCreate(b);
        });
      },
    };
    function run(first) {
      // In the save queue: exemplar ids exist only once their creates are answered.
      return api.enqueue(async () => {
        const ids = exemplars.map((b) => b.id).filter((id) => id != null);
        const body =
          ids.length === exemplars.length
            ? { box_ids: ids }
            : { exemplars: exemplars.map((b) => ({ ...geometry(b), label: labelName(b) })) };
        if (minScore != null) body.min_score = minScore;
        const data = await api.post(`${imagePath()}/find-similar`, body);
        Object.assign(command, replaceProposals(data || {}));
        state.exemplarIds = exemplars.map((b) => b.key);
        if (first) {
          state.undo.push(command);
          state.redo.length = 0;
        }
        redraw();
        // The server shows a label only as many as its accepted proposals have earned.
        return { added: command.added, heldBack: (data && data.held_back) || 0 };
      });
    }
    return run(true);
  }

  return {
    createBox, createMany, adoptProposal, moveBoxes, deleteBoxes, setGeometry, relabel, decide,
    findSimilar, undo, redo,
  };
}
