// genweave console: a live view of a running app (topology, replicas, methods) through
// the gateway's HTTP API. Plain browser JavaScript as an ES module, no build step. Text
// from the server is only ever set with textContent. An app's own panels are modules
// too, and import the helpers exported here.

const STATUS_EVERY_MS = 1000;
const KEY_STORAGE = "genweave.apiKey";
const HEALTH = {
  ready: "ok", starting: "warn", restarting: "warn", draining: "warn",
  stopped: "bad", failed: "bad",
};

export const $ = (id) => document.getElementById(id);

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (name === "text") node.textContent = value;
    else if (name === "className") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

// -- the API ------------------------------------------------------------------

function apiKey() {
  try { return localStorage.getItem(KEY_STORAGE) || ""; } catch { return ""; }
}

function headers(json = true) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  const key = apiKey().trim();
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

export class ApiError extends Error {}

// OpenAI's error shape, {"error": {"message", "type", "param", "code"}}, or
// whatever the response says when it is not JSON.
async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) message = body.error.message;
  } catch { /* not JSON: keep the status line */ }
  return new ApiError(message);
}

export async function api(method, path, body, signal) {
  let response;
  try {
    response = await fetch(path, {
      method, signal, headers: headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(`The gateway is unreachable (${error.message}).`);
  }
  if (!response.ok) throw await failure(response);
  return response;
}

// -- small shared helpers ----------------------------------------------------

export function showError(node, message) {
  node.textContent = message || "";
  node.hidden = !message;
}

export function setBusy(button, busy, label) {
  if (!button.dataset.label) button.dataset.label = button.textContent;
  button.disabled = busy;
  button.textContent = busy ? label : button.dataset.label;
}

export const fmt = {
  ms: (v) => (v === null || v === undefined ? "–" : v < 10 ? v.toFixed(2) : v.toFixed(1)),
  rate: (v) => (v ? v.toFixed(1) : "0"),
  seconds: (ms) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`),
};

// -- API key ------------------------------------------------------------------

function setupKey() {
  const input = $("api-key");
  input.value = apiKey();
  input.addEventListener("input", () => {
    try { localStorage.setItem(KEY_STORAGE, input.value.trim()); } catch { /* private mode */ }
  });
  $("api-key-clear").addEventListener("click", () => {
    input.value = "";
    try { localStorage.removeItem(KEY_STORAGE); } catch { /* private mode */ }
  });
  $("key-form").addEventListener("submit", (event) => event.preventDefault());
}

// -- live status --------------------------------------------------------------

function renderGroups(groups) {
  const cards = groups.map((group) => el("div", {
    className: "group", "data-testid": "group", "data-group": group.name,
  },
  el("div", { className: "group-head" },
    el("h3", { text: group.name }),
    el("span", { className: "muted small",
      text: `${group.replicas.length} replica${group.replicas.length === 1 ? "" : "s"}` })),
  el("div", { className: "chips" },
    ...group.components.map((c) => el("span", { className: "chip", text: c }))),
  el("ul", { className: "replicas" }, ...group.replicas.map((r) => el("li", {
    className: "replica", "data-testid": "replica", "data-replica": r.name, "data-state": r.state,
  },
  el("div", { className: "replica-head" },
    el("span", { className: `badge badge-${HEALTH[r.state] || "warn"}`, text: r.state }),
    el("span", { className: "replica-name", text: r.name })),
  el("div", { className: "replica-detail small" },
    el("span", { className: "muted", text: `${/^\d/.test(r.version) ? "v" : ""}${r.version} · ` }),
    el("span", { className: "muted", text: r.pid ? `pid ${r.pid}` : "no pid" }),
    el("span", { className: r.restarts ? "warn-text" : "muted",
      text: ` · ${r.restarts} restart${r.restarts === 1 ? "" : "s"}` }))))),
  ));
  $("status-groups").replaceChildren(...cards);
}

// Text nodes with a line-break opportunity after each "." and "/", so that long
// names like "Gateway.POST /v1/chat/completions" wrap at their joints.
function breakable(name) {
  return name.split(/(?<=[./])/).flatMap((part) => [part, el("wbr")]).slice(0, -1);
}

// Idle methods (no calls yet, none in flight) are hidden unless asked for.
function renderMethods(methods) {
  const showIdle = $("status-show-idle").checked;
  const shown = showIdle ? methods : methods.filter((m) => m.calls || m.in_flight);
  const rows = shown.map((m) => el("tr", {
    "data-testid": "method-row", "data-method": `${m.component}.${m.method}`,
  },
  el("th", { scope: "row" }, ...breakable(`${m.component}.${m.method}`)),
  el("td", { className: "num", text: fmt.rate(m.rate) }),
  el("td", { className: "num", text: fmt.ms(m.p50_ms) }),
  el("td", { className: "num", text: fmt.ms(m.p99_ms) }),
  el("td", { className: "num", text: String(m.calls) }),
  el("td", { className: m.errors ? "num bad-text" : "num", text: String(m.errors) }),
  el("td", { className: "num", text: String(m.in_flight) })));
  const hidden = methods.length - shown.length;
  if (hidden) {
    rows.push(el("tr", { className: "idle-note" }, el("td", { colspan: "7", className: "muted",
      text: `${hidden} idle method${hidden === 1 ? "" : "s"} hidden` })));
  }
  $("status-methods").tBodies[0].replaceChildren(...rows);
}

function renderReady(ready) {
  const badge = $("status-ready");
  badge.dataset.ready = ready === null ? "unknown" : String(ready);
  badge.className = `badge ${ready === null ? "badge-unknown" : ready ? "badge-ok" : "badge-bad"}`;
  badge.textContent = ready === null ? "unreachable" : ready ? "ready" : "not ready";
}

let lastMethods = [];

async function refreshStatus() {
  try {
    const view = await (await api("GET", "/v1/genweave/status")).json();
    lastMethods = view.methods;
    $("status-app").textContent = view.app;
    $("status-topology").textContent = `topology: ${view.topology}`;
    renderReady(view.ready);
    renderGroups(view.groups);
    renderMethods(view.methods);
    $("status-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    showError($("status-error"), "");
  } catch (error) {
    // The live view needs a key where keys are configured; readiness does not.
    renderReady(await readiness());
    showError($("status-error"), error.message);
  }
}

async function readiness() {
  try {
    return (await (await fetch("/readyz")).json()).ready;
  } catch {
    return null;
  }
}

async function pollStatus() {
  if (!document.hidden) await refreshStatus();
  setTimeout(pollStatus, STATUS_EVERY_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  setupKey();
  $("status-show-idle").addEventListener("change", () => renderMethods(lastMethods));
  pollStatus();
});
