// JSON API client and the save queue.
//
// Every edit is sent at once, but in order: a PATCH of a box that is still being
// created must wait for its id, so mutating calls run one at a time from a queue.
// Network failures and 5xx are retried with backoff; if they keep failing the queue
// stops (nothing is dropped) until the user presses Retry.

const RETRIES = 3;
const BACKOFF_MS = 250;

export class ApiError extends Error {
  constructor(status, body, method, path) {
    const detail = (body && (body.detail || body.error)) || `HTTP ${status}`;
    super(`${method} ${path}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
    this.status = status;
    this.body = body;
  }

  get retryable() {
    return this.status === 0 || this.status >= 500;
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function readJson(res) {
  if (res.status === 204) return null;
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { error: "bad response", detail: text.slice(0, 200) };
  }
}

export function createApi({ base, csrfToken, onStatus }) {
  let token = csrfToken || "";
  const queue = [];
  let running = false;
  let halted = null; // the ApiError that stopped the queue, until retry()
  let idleWaiters = [];
  let onFailure = () => {};

  async function refreshToken() {
    const res = await fetch(`${base}/session`, { credentials: "same-origin" });
    const body = await readJson(res);
    if (res.ok && body && body.csrf_token) token = body.csrf_token;
  }

  async function send(method, path, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined) init.body = JSON.stringify(body);
    try {
      const res = await fetch(base + path, init);
      return { res, data: await readJson(res) };
    } catch (err) {
      return { res: { ok: false, status: 0 }, data: { error: "network", detail: String(err) } };
    }
  }

  async function request(method, path, body) {
    let csrfRetried = false;
    for (let attempt = 0; ; attempt++) {
      const { res, data } = await send(method, path, body);
      if (res.ok) return data;
      const csrfFail =
        (res.status === 400 || res.status === 403) &&
        /csrf/i.test(JSON.stringify(data || ""));
      if (csrfFail && !csrfRetried) {
        csrfRetried = true; // the session may have expired: fetch a fresh token once
        await refreshToken();
        continue;
      }
      const err = new ApiError(res.status, data, method, path);
      if (!err.retryable || attempt >= RETRIES) throw err;
      await sleep(BACKOFF_MS * 2 ** attempt);
    }
  }

  function status(kind, detail) {
    onStatus(kind, detail || "");
  }

  async function pump() {
    if (running || halted) return;
    running = true;
    status("saving");
    while (queue.length && !halted) {
      const job = queue[0];
      try {
        job.resolve(await job.run());
        queue.shift();
      } catch (err) {
        if (err instanceof ApiError && err.retryable) {
          halted = err; // keep the job: Retry sends it again
          status("error", err.message);
          break;
        }
        // A refusal (409/404/422): the local view is wrong. Later queued edits were built on
        // it, so drop them too and let onFailure reload the image from the server.
        const dropped = queue.splice(0, queue.length);
        dropped.forEach((j) => j.reject(err));
        running = false;
        await onFailure(err); // reloads from the server and reports the state itself
        flushIdle();
        return;
      }
    }
    running = false;
    if (!halted) {
      status("saved");
      flushIdle();
    }
  }

  function flushIdle() {
    const waiters = idleWaiters;
    idleWaiters = [];
    waiters.forEach((w) => w());
  }

  function enqueue(run) {
    const promise = new Promise((resolve, reject) => {
      queue.push({ run, resolve, reject });
      pump();
    });
    promise.catch(() => {}); // failures are reported through onStatus/onFailure
    return promise;
  }

  return {
    get: (path) => request("GET", path),
    post: (path, body) => request("POST", path, body ?? {}),
    patch: (path, body) => request("PATCH", path, body),
    del: (path) => request("DELETE", path),
    enqueue,
    setFailureHandler(fn) {
      onFailure = fn;
    },
    retry() {
      halted = null;
      pump();
    },
    pending: () => queue.length + (halted ? 1 : 0),
    idle() {
      if (!queue.length && !running) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
  };
}
