// "Create version" on the Versions page: POST the form as JSON with the CSRF header, then
// reload the page (table, next version number, gate) and say what happened on it, also when
// the version was made but its push failed.
const FLASH_KEY = "labeler.versions.flash";
const SELECTORS = {
  form: "#create-version-form",
  status: "#create-version-form .create-status",
  csrf: 'meta[name="csrf-token"]',
};

function formPayload(form) {
  const data = new FormData(form);
  return {
    message: String(data.get("message") || ""),
    allow_incomplete: data.get("allow_incomplete") === "on",
    push: data.get("push") === "on",
  };
}

function showStatus(text, isError) {
  const out = document.querySelector(SELECTORS.status);
  out.textContent = text;
  out.classList.toggle("error", Boolean(isError));
}

async function createVersion(form) {
  const token = document.querySelector(SELECTORS.csrf).content;
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  showStatus("Creating the version (gate, snapshot, dvc add, commit)…", false);
  try {
    const resp = await fetch(form.dataset.url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
      body: JSON.stringify(formPayload(form)),
    });
    const body = await resp.json();
    if (resp.ok || body.tag) {
      // Made (pushed or not): the table must show it, so reload and carry the message over.
      const text = resp.ok ? `Created ${body.tag}.` : body.detail;
      sessionStorage.setItem(FLASH_KEY, JSON.stringify({ text, error: !resp.ok }));
      window.location.reload();
      return;
    }
    showStatus(body.detail || `failed (${resp.status})`, true);
  } catch (err) {
    showStatus(`Network error: ${err}`, true);
  } finally {
    button.disabled = false;
  }
}

function init() {
  const form = document.querySelector(SELECTORS.form);
  if (!form) return;
  const flash = sessionStorage.getItem(FLASH_KEY);
  sessionStorage.removeItem(FLASH_KEY);
  if (flash) {
    const { text, error } = JSON.parse(flash);
    showStatus(text, error);
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    createVersion(form);
  });
}

init();
