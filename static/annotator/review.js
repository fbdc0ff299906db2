// Reviewing proposals from the keyboard: Tab order, accept / reject one and move on,
// accept / reject every proposal shown above the threshold.

import { select, selectedBoxes, shownProposals } from "./state.js";
import { centreOn } from "./view.js";

export function createReview({ state, view, edits, say, redraw }) {
  function stepProposal(direction) {
    const list = proposalOrder();
    if (!list.length) return say("No proposals shown.");
    const current = list.findIndex((b) => state.selected.has(b.key));
    const next = list[(current + direction + list.length) % list.length];
    select(state, next);
    centreOn(view, next);
    redraw();
  }

  function proposalOrder() {
    return shownProposals(state).sort((a, b) => a.y - b.y || a.x - b.x);
  }

  function decideSelected(status) {
    const chosen = selectedBoxes(state);
    if (!chosen.length) return say("Select a box first (Tab selects the next proposal).");
    // Deciding one proposal moves on to the one after it, for A A X A ... runs.
    const single = chosen.length === 1 && chosen[0].status === "proposed";
    const at = single ? proposalOrder().indexOf(chosen[0]) : -1;
    edits.decide(chosen, status);
    const rest = proposalOrder();
    select(state, single && rest.length ? rest[at % rest.length] : null);
    if (state.selected.size) centreOn(view, rest[at % rest.length]);
  }

  function decideShown(status) {
    const list = shownProposals(state);
    if (!list.length) return say("No proposals shown.");
    edits.decide(list, status);
    select(state, null);
    say(`${status === "accepted" ? "Accepted" : "Rejected"} ${list.length} proposal(s).`);
  }

  return { stepProposal, decideSelected, decideShown };
}
