// The reference app's console panels: chat, image generation and document ingestion,
// through its OpenAI-compatible API. An ES module beside the framework console, whose
// helpers it imports. Text from the server is only ever set with textContent.

import { $, ApiError, api, el, fmt, setBusy, showError } from "/console/console.js";

const CHAT_MODEL = "genweave-assistant";
const JOB_EVERY_MS = 500;
const JOB_MAX_MISSES = 20; // about ten seconds without an answer
const FINISHED = new Set(["done", "failed"]);

// Server-sent events from a POST: yields each event's data (the JSON text, or "[DONE]").
async function* sseData(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(`The stream broke off (${error.message}).`);
    }
    const { value, done } = chunk;
    if (done) break;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(l[5] === " " ? 6 : 5)).join("\n");
      if (data) yield data;
    }
  }
}

// -- chat ---------------------------------------------------------------------

const chat = { history: [], controller: null };

// Keeps the newest text in view without scrolling the page itself.
function scrollChat() {
  const log = $("chat-log");
  log.scrollTop = log.scrollHeight;
}

let messageCount = 0;

function addMessage(role, text) {
  $("chat-empty")?.remove();
  messageCount += 1;
  const body = el("div", { className: "message-text", text });
  const node = el("article", {
    id: `message-${messageCount}`, className: `message ${role}`, "data-testid": `${role}-message`,
    "aria-label": role === "user" ? "You" : "Assistant",
  }, el("div", { className: "message-role", text: role === "user" ? "You" : "Assistant" }), body);
  $("chat-log").append(node);
  scrollChat();
  return node;
}

function renderCitations(node, citations) {
  node.querySelector(".sources")?.remove();
  if (!citations.length) return;
  const list = el("ol", { className: "citations", "aria-labelledby": `${node.id}-sources` });
  for (const c of citations) {
    const score = typeof c.score === "number" ? ` · score ${c.score.toFixed(2)}` : "";
    list.append(el("li", { "data-index": c.index, "data-testid": "citation" },
      el("span", { className: "cite-index", text: `[${c.index}]` }),
      el("div", { className: "cite-body" },
        el("div", { className: "cite-title", text: c.title || c.document }),
        el("div", { className: "muted small",
          text: `${c.document} · chunk ${c.chunk}${score}` }),
        c.snippet ? el("div", { className: "cite-snippet", text: c.snippet }) : null)));
  }
  node.append(el("section", { className: "sources", "data-testid": "citations" },
    el("div", { className: "sources-label", id: `${node.id}-sources`, text: "Sources" }), list));
}

function addNotice(node, kind, text) {
  node.append(el("p", { className: `notice ${kind}`, "data-testid": kind, role: "status", text }));
}

function addImage(node, image) {
  node.append(el("figure", { className: "chat-figure" },
    el("img", { "data-testid": "chat-image", src: `data:image/png;base64,${image.b64_json}`,
      alt: image.detail ? `Illustration: ${image.detail}` : "Illustration of the answer" }),
    image.detail ? el("figcaption", { className: "muted small", text: image.detail }) : null));
}

// Applies one SSE chunk to the answer; returns the text it added.
function applyChunk(node, chunk, meta) {
  if (chunk.error) throw new ApiError(chunk.error.message || "The stream failed.");
  const extra = chunk.genweave || {};
  if (extra.citations) renderCitations(node, extra.citations);
  if (extra.degraded && extra.degraded.length) {
    addNotice(node, "degraded", `Degraded: answered without ${extra.degraded.join(", ")} `
      + "(unavailable or too slow).");
  }
  if (extra.blocked) {
    addNotice(node, "blocked", "Blocked by moderation"
      + (extra.blocked.length ? `: ${extra.blocked.join(", ")}.` : "."));
  }
  if (extra.image) addImage(node, extra.image);
  if (extra.citations || extra.degraded || extra.blocked || extra.image) scrollChat();
  if (chunk.usage) meta.tokens = chunk.usage.completion_tokens;
  const choice = (chunk.choices || [])[0];
  if (!choice) return "";
  if (choice.finish_reason) meta.finish = choice.finish_reason;
  return (choice.delta && choice.delta.content) || "";
}

function finishMeta(node, meta) {
  const parts = [];
  if (meta.tokens !== undefined) parts.push(`${meta.tokens} tokens`);
  if (meta.first !== undefined) parts.push(`first token ${fmt.seconds(meta.first)}`);
  parts.push(`total ${fmt.seconds(performance.now() - meta.start)}`);
  if (meta.finish && meta.finish !== "stop") parts.push(`finish: ${meta.finish}`);
  node.append(el("div", { className: "message-meta muted small", "data-testid": "chat-meta",
    text: parts.join(" · ") }));
}

async function streamAnswer(node, signal) {
  const text = node.querySelector(".message-text");
  const meta = { start: performance.now() };
  const response = await api("POST", "/v1/chat/completions", {
    model: CHAT_MODEL, stream: true, stream_options: { include_usage: true },
    messages: chat.history, retrieval: $("chat-retrieval").checked,
    illustrate: $("chat-illustrate").checked,
  }, signal);
  let answer = "";
  let chunks = 0;
  for await (const data of sseData(response)) {
    if (data === "[DONE]") break;
    const delta = applyChunk(node, JSON.parse(data), meta);
    if (!delta) continue;
    if (meta.first === undefined) meta.first = performance.now() - meta.start;
    answer += delta;
    chunks += 1;
    text.textContent = answer;
    node.dataset.chunks = String(chunks);
    scrollChat();
  }
  finishMeta(node, meta);
  return answer;
}

async function sendChat(event) {
  event.preventDefault();
  const input = $("chat-input");
  const question = input.value.trim();
  if (!question || chat.controller) return;
  input.value = "";
  addMessage("user", question);
  chat.history.push({ role: "user", content: question });
  const node = addMessage("assistant", "");
  node.dataset.state = "streaming";
  node.setAttribute("aria-busy", "true");
  chat.controller = new AbortController();
  $("chat-stop").hidden = false;
  setBusy($("chat-send"), true, "Answering…");
  try {
    const answer = await streamAnswer(node, chat.controller.signal);
    chat.history.push({ role: "assistant", content: answer });
    node.dataset.state = "done";
  } catch (error) {
    chat.history.pop();
    const stopped = error.name === "AbortError";
    node.dataset.state = stopped ? "stopped" : "error";
    node.append(el("p", { className: stopped ? "notice degraded" : "error",
      "data-testid": "chat-error", role: "alert",
      text: stopped ? "Stopped." : error.message }));
  } finally {
    node.removeAttribute("aria-busy");
    chat.controller = null;
    $("chat-stop").hidden = true;
    setBusy($("chat-send"), false);
    input.focus();
  }
}

function setupChat() {
  $("chat-form").addEventListener("submit", sendChat);
  $("chat-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("chat-form").requestSubmit();
    }
  });
  $("chat-stop").addEventListener("click", () => chat.controller?.abort());
  $("chat-clear").addEventListener("click", () => {
    chat.controller?.abort();
    chat.history = [];
    $("chat-log").replaceChildren(el("p", { className: "empty", id: "chat-empty",
      text: "New conversation. Ask the assistant a question." }));
  });
}

// -- images -------------------------------------------------------------------

async function generateImage(event) {
  event.preventDefault();
  const prompt = $("image-prompt").value.trim();
  if (!prompt) return;
  const button = $("image-generate");
  const started = performance.now();
  setBusy(button, true, "Generating…");
  showError($("image-error"), "");
  try {
    const response = await api("POST", "/v1/images/generations",
      { prompt, size: $("image-size").value });
    const image = (await response.json()).data[0];
    const img = $("image-result");
    img.src = `data:image/png;base64,${image.b64_json}`;
    img.alt = image.revised_prompt || prompt;
    $("image-caption").textContent =
      `${image.revised_prompt || prompt} · ${fmt.seconds(performance.now() - started)}`;
    $("image-figure").hidden = false;
  } catch (error) {
    showError($("image-error"), error.message);
  } finally {
    setBusy(button, false);
  }
}

// -- documents ----------------------------------------------------------------

function mediaTypeOf(name) {
  const lower = name.toLowerCase();
  if (/\.(md|markdown)$/.test(lower)) return "text/markdown";
  if (/\.html?$/.test(lower)) return "text/html";
  return "text/plain";
}

async function readFile() {
  const file = $("doc-file").files[0];
  if (!file) return;
  $("doc-text").value = await file.text();
  $("doc-type").value = mediaTypeOf(file.name);
  if (!$("doc-title").value.trim()) $("doc-title").value = file.name.replace(/\.[^.]+$/, "");
}

function renderJob(item, job) {
  const fraction = job.total ? job.done / job.total : job.state === "done" ? 1 : 0;
  const percent = Math.round(fraction * 100);
  item.dataset.state = job.state;
  item.querySelector(".badge").textContent = job.state;
  item.querySelector(".badge").className = `badge badge-${
    job.state === "done" ? "ok" : job.state === "failed" ? "bad" : "warn"}`;
  const bar = item.querySelector(".progress");
  bar.setAttribute("aria-valuenow", String(percent));
  bar.classList.toggle("indeterminate", !FINISHED.has(job.state) && !job.total);
  bar.firstElementChild.style.width = `${percent}%`;
  const counts = job.total ? `${job.done}/${job.total} chunks` : "";
  const detail = job.error || job.message;
  item.querySelector(".job-detail").textContent =
    [counts, detail].filter(Boolean).join(" · ") || "waiting…";
}

async function followJob(item, job) {
  renderJob(item, job);
  let misses = 0;
  while (!FINISHED.has(job.state) && misses < JOB_MAX_MISSES) {
    await new Promise((resolve) => setTimeout(resolve, JOB_EVERY_MS));
    try {
      const response = await api("GET", `/v1/genweave/jobs/${encodeURIComponent(job.id)}`);
      job = await response.json();
      misses = 0;
      renderJob(item, job);
    } catch (error) {
      misses += 1;
      item.querySelector(".job-detail").textContent = misses < JOB_MAX_MISSES
        ? `cannot poll, retrying: ${error.message}` : `gave up polling: ${error.message}`;
    }
  }
}

async function ingest(event) {
  event.preventDefault();
  const button = $("doc-submit");
  const title = $("doc-title").value.trim();
  setBusy(button, true, "Submitting…");
  showError($("doc-error"), "");
  try {
    const response = await api("POST", "/v1/genweave/documents",
      { title, text: $("doc-text").value, media_type: $("doc-type").value });
    const job = await response.json();
    const item = el("li", { className: "job", "data-testid": "job", "data-job": job.id },
      el("div", { className: "job-head" },
        el("span", { className: "job-title", text: title }),
        el("span", { className: "badge" })),
      el("div", { className: "progress", role: "progressbar", "aria-valuemin": "0",
        "aria-valuemax": "100", "aria-label": `Ingestion of ${title}`,
        "data-testid": "job-progress" }, el("div", { className: "progress-fill" })),
      el("div", { className: "job-detail muted small" }));
    $("doc-jobs").prepend(item);
    $("doc-form").reset();
    followJob(item, job);
  } catch (error) {
    showError($("doc-error"), error.message);
  } finally {
    setBusy(button, false);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setupChat();
  $("image-form").addEventListener("submit", generateImage);
  $("doc-file").addEventListener("change", readFile);
  $("doc-form").addEventListener("submit", ingest);
});
