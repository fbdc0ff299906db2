// Reviewing proposals from the keyboard: the review order (best first, then reading order),
// accept / reject the focused one and move on, accept / reject every proposal shown above
// the threshold, and the threshold slider asking the server which proposals pass.

import { addBox, isLocked, select, selectedBoxes, shownProposals } from "./state.js";
import { centreOn } from "./view.js";

const SCORE_BAND = 100; // scores equal to 2 decimals tie, and then reading order decides

export function reviewOrder(state) {
  const band = (b) => Math.round((b.score ?? 1) * SCORE_BAND);
  return shownProposals(state)
    .filter((b) => !isLocked(state, b))
    .sort((a, b) => band(b) - band(a) || a.y - b.y || a.x - b.x);
}

export function createReview({ state, view, edits, api, say, redraw }) {
  function focus(box, { deliberate = true } = {}) {
    select(state, box, { deliberate });
    if (box) centreOn(view, box);
  }

  function stepProposal(direction) {
    const list = reviewOrder(state);
    if (!list.length) return say("No proposals shown.");
    const current = list.findIndex((b) => state.selected.has(b.key));
    const at = current < 0 ? (direction > 0 ? 0 : list.length - 1) : current + direction;
    focus(list[(at + list.length) % list.length]);
    redraw();
  }

  function decideSelected(status) {
    const chosen = selectedBoxes(state).filter((b) => !isLocked(state, b));
    if (!chosen.length) {
      // Nothing focused yet: focus the best proposal, so the next key press decides it.
      const [first] = reviewOrder(state);
      if (!first) return say("Select a box first: no proposals are shown.");
      focus(first);
      return say("Focused the best proposal: press again to decide it.");
    }
    // Deciding one proposal moves on to the one after it, for A A X A ... runs.
    const single = chosen.length === 1 && chosen[0].status === "proposed";
    const at = single ? reviewOrder(state).indexOf(chosen[0]) : -1;
    edits.decide(chosen, status);
    const rest = reviewOrder(state);
    // Moved on for the user, not picked by them: a digit now sets the next box's label and
    // does not relabel this proposal (Tab or a click picks it on purpose).
    focus(single && rest.length ? rest[at % rest.length] : null, { deliberate: false });
  }

  function decideShown(status) {
    const list = reviewOrder(state);
    if (!list.length) return say("No proposals shown.");
    edits.decide(list, status);
    select(state, null);
    const cut = state.threshold > 0 ? ` with score ≥ ${state.threshold.toFixed(2)}` : "";
    say(`${status === "accepted" ? "Accepted" : "Rejected"} ${list.length} proposal(s)${cut}.`);
  }

  let query = 0;
  async function requery(minScore) {
    // The server has the calibrated scores and proposals made elsewhere (Propagate, another
    // tab): ask it which proposals pass the cut, add the ones this page has not seen, and
    // keep its review order.
    const mine = ++query;
    await api.idle();
    let data;
    try {
      data = await api.get(`/images/${state.image.id}?status=proposed&min_score=${minScore}&order=review`);
    } catch (err) {
      return say(`Could not ask the server for proposals: ${err.message}`, "error");
    }
    if (mine !== query) return; // a later move of the slider wins
    const known = new Set([...state.boxes.values()].map((b) => b.id));
    let added = 0;
    for (const item of data.boxes || []) {
      if (item.status !== "proposed" || known.has(item.id)) continue;
      addBox(state, item);
      added += 1;
    }
    const n = (data.boxes || []).length;
    say(`${n} proposal(s) with score ≥ ${minScore.toFixed(2)}${added ? `, ${added} new from the server` : ""}.`);
    redraw();
  }

  return { stepProposal, decideSelected, decideShown, requery };
}
