// The review queue's Approve / Send back buttons and the Team page's assign form: each
// posts JSON to /api/v1 with the session's CSRF token (the pages themselves hold no script).
const SELECTORS = {
  csrf: 'meta[name="csrf-token"]',
  reviewItem: ".review-item",
  reviewStatus: ".review-status",
  comment: 'input[name="comment"]',
  assignForm: "#assign-form",
  assignStatus: "#assign-form .assign-status",
};

function makeApi(base = "/api/v1") {
  const token = document.querySelector(SELECTORS.csrf).content;
  return async function post(path, body) {
    const resp = await fetch(base + path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
      body: JSON.stringify(body),
    });
    const data = await resp.json();
    if (!resp.ok) throw new Error(data.detail || `failed (${resp.status})`);
    return data;
  };
}

async function reviewImage(post, item, action) {
  const status = item.querySelector(SELECTORS.reviewStatus);
  const body = { state: "approved", version: Number(item.dataset.version) };
  if (action === "send-back") {
    const comment = item.querySelector(SELECTORS.comment).value.trim();
    if (!comment) {
      status.textContent = "Say what to fix first.";
      return;
    }
    Object.assign(body, { state: "in_progress", comment });
  }
  try {
    const image = await post(`/images/${item.dataset.imageId}/state`, body);
    item.dataset.version = image.version;
    item.dataset.state = image.state;
    status.textContent = image.state === "approved" ? "Approved" : "Sent back";
    item.querySelectorAll("button").forEach((b) => { b.disabled = true; });
  } catch (err) {
    status.textContent = String(err.message || err);
  }
}

async function assign(post, form) {
  const data = new FormData(form);
  const every = data.get("all_unassigned") === "on";
  const body = { to: String(data.get("to")) };
  if (every) body.all_unassigned = true;
  else body.images = Number(data.get("images"));
  const status = document.querySelector(SELECTORS.assignStatus);
  try {
    const out = await post(`/datasets/${data.get("dataset")}/assign`, body);
    status.textContent = `Assigned ${out.assigned.length} image(s) to ${out.to}.`;
  } catch (err) {
    status.textContent = String(err.message || err);
  }
}

function init() {
  const post = makeApi();
  document.querySelectorAll(SELECTORS.reviewItem).forEach((item) => {
    item.addEventListener("click", (event) => {
      const action = event.target.dataset?.action;
      if (action === "approve" || action === "send-back") reviewImage(post, item, action);
    });
  });
  const form = document.querySelector(SELECTORS.assignForm);
  form?.addEventListener("submit", (event) => {
    event.preventDefault();
    assign(post, form);
  });
}

init();
