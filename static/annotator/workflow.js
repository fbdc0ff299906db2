// Flows that span the server and other images: loading and reloading, copying the
// previous image's boxes, marking done / empty, navigation and Propagate jobs.

import { clampBox, replaceBoxes } from "./state.js";

const POLL_MS = 500;
const JOB_FINISHED = new Set(["done", "failed", "cancelled"]);
const FLASH_KEY = "labeler.flash";

export function takeFlash(imageId) {
  // "Marked done" survives the navigation it causes: the next page shows it once.
  try {
    const raw = sessionStorage.getItem(FLASH_KEY);
    sessionStorage.removeItem(FLASH_KEY);
    const flash = raw ? JSON.parse(raw) : null;
    return flash && flash.to === imageId ? flash.text : null;
  } catch {
    return null;
  }
}

function leaveFlash(to, text) {
  try {
    sessionStorage.setItem(FLASH_KEY, JSON.stringify({ to, text }));
  } catch {
    // Private mode: the message is simply not carried over.
  }
}

export function createWorkflow({ state, api, edits, say, refresh, pagesBase, ui, prevName }) {
  async function load() {
    const data = await api.get(`/images/${state.image.id}`);
    replaceBoxes(state, data.boxes || []);
    state.image.state = data.state;
    state.image.version = data.version;
    for (const key of Object.keys(state.nav)) if (key in data) state.nav[key] = data[key];
    refresh();
    return data;
  }

  async function reloadAfter(err) {
    // The server refused an edit: show what it really has and say why.
    state.undo.length = 0;
    state.redo.length = 0;
    const why =
      err && err.status === 409
        ? "Changed elsewhere, reloaded."
        : `Not saved (${err ? err.message : "error"}); reloaded.`;
    try {
      await load();
      ui.saveState("saved");
      say(why, "warning");
    } catch (loadErr) {
      ui.saveState("error", loadErr.message);
      say(`${why} Reload failed: ${loadErr.message}`, "error");
    }
  }

  function go(id) {
    window.location.assign(`${pagesBase}/images/${id}`);
  }

  async function navigate(which) {
    await api.idle();
    if (api.pending()) return say("Edits are not saved yet: press Retry first.", "error");
    const id = state.nav[which];
    if (id == null) return say(which === "prev_id" ? "This is the first image." : "This is the last image.");
    go(id);
  }

  async function finish(imageState) {
    await api.idle();
    if (api.pending()) return say("Edits are not saved yet: press Retry first.", "error");
    try {
      const wasFinished = state.image.state === "done" || state.image.state === "empty";
      const data = await api.post(`/images/${state.image.id}/state`, { state: imageState });
      ui.finished(wasFinished);
      state.image.state = data.state;
      state.image.version = data.version;
      refresh();
      const fresh = await api.get(`/images/${state.image.id}?status=accepted`);
      const next = fresh.next_unfinished_id;
      const what = imageState === "empty" ? "“no objects”" : "done";
      const text = `Marked ${state.image.rel_path} ${what}.`;
      if (next == null) return say(`${text} No unfinished images left.`, "persist");
      say(text, "persist");
      leaveFlash(next, `${text} This is the next unfinished image.`);
      go(next);
    } catch (err) {
      say(`Not marked ${imageState}: ${err.message}`, "error");
    }
  }

  function clampRects(boxes) {
    return boxes
      .map((b) => ({ ...clampBox(state, b), label: b.label, label_id: b.label_id }))
      .filter((r) => r.w >= 1 && r.h >= 1 && state.labels.some((l) => l.id === r.label_id));
  }

  function pasteRects(boxes) {
    const rects = clampRects(boxes);
    if (!rects.length) {
      say("Nothing to paste: copy boxes (Ctrl+C) of this dataset first.");
      return [];
    }
    say(`Pasted ${rects.length} box(es). Ctrl+Z undoes.`);
    return edits.createMany(rects);
  }

  async function copyPrevious() {
    // Says what it copies and from where: the previous image by position, not the last one
    // you worked on, and only its accepted boxes.
    const prev = state.nav.prev_id;
    if (prev == null) return say("There is no previous image to copy from.");
    try {
      const data = await api.get(`/images/${prev}?status=accepted`);
      const name = data.path || prevName || `image ${prev}`;
      const rects = clampRects(data.boxes || []);
      if (!rects.length) return say(`The previous image, ${name}, has no accepted boxes: nothing copied.`);
      edits.createMany(rects);
      const labels = [...new Set(rects.map((r) => r.label))].join(", ");
      say(`Copied ${rects.length} accepted box(es) (${labels}) from the previous image, ${name} (${data.state.replace("_", " ")}). Ctrl+Z undoes.`, "persist");
    } catch (err) {
      say(`Copy failed: ${err.message}`, "error");
    }
  }

  async function pollJob(jobId) {
    for (;;) {
      const job = await api.get(`/jobs/${jobId}`);
      ui.progress(job.done || 0, job.total || 0, job.status);
      if (JOB_FINISHED.has(job.status)) return job;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  async function propagate(exemplars, { scope, n, minScore }) {
    if (!exemplars.length) return say("Find similar first, or select the exemplar boxes.");
    await api.idle();
    const ids = exemplars.map((b) => b.id).filter((id) => id != null);
    if (!ids.length) return say("The exemplar boxes are not saved yet.", "error");
    const body = { box_ids: ids, scope };
    if (scope === "next") body.n = n;
    if (minScore != null) body.min_score = minScore;
    try {
      const { job_id: jobId } = await api.post(`/datasets/${state.dataset.id}/propagate`, body);
      ui.progress(0, 0, "queued");
      say("Propagating…");
      const job = await pollJob(jobId);
      if (job.status === "done") say(`Propagated to ${job.done} of ${job.total} image(s).`);
      else say(`Propagate ${job.status}: ${job.error || "no detail"}`, "error");
    } catch (err) {
      ui.progress(0, 0, "failed");
      say(`Propagate failed: ${err.message}`, "error");
    }
  }

  return { load, reloadAfter, navigate, finish, copyPrevious, pasteRects, propagate };
}
