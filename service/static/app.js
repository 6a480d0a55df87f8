// chatperf's chat page: plain JavaScript served by the service (no build step, no CDN), so it
// works offline. It streams answers with fetch + a stream reader (EventSource cannot POST),
// renders model text only as text (never as markup), and measures perceived latency where it
// is perceived: from the user's send to the frame that showed the first and the last answer
// text, reported to the service with navigator.sendBeacon. Until the first token a typing
// indicator says the answer is coming, and "still working" once the service's ": ping"
// keep-alives show the wait is long (the reader sees comments; EventSource would hide them).
"use strict";

(() => {
  const KEY_STORAGE = "chatperf.apiKey";
  const QUICK_DELAY_MS = 350; // debounce: check the cache once the user pauses typing
  const QUICK_MIN_CHARS = 3;
  const BEACON_URL = "/api/client/timings";

  const $ = (id) => document.getElementById(id);
  const conversation = $("conversation");
  const askForm = $("ask-form");
  const input = $("message");
  const sendButton = $("send");
  const stopButton = $("stop");
  const hint = $("hint");
  const status = $("status"); // one live region for the wait: a new one's text is not announced
  const { readEvents } = window.chatperfSSE;
  const keyForm = $("key-form");
  const keyInput = $("key-input");
  const keyHelp = $("key-help");
  const maxHistory = Number(document.body.dataset.maxHistory || 20);
  const maxChars = Number(document.body.dataset.maxMessageChars || 4000);

  const history = []; // finished exchanges only: a stopped or failed answer is not context
  let sessionId = newSessionId();
  let active = null; // the AbortController of the answer streaming now
  let afterKey = null; // what to do once the user has given a key
  let turns = 0;
  let quickTimer = 0;
  let quickController = null;

  function newSessionId() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function requestHeaders() {
    const headers = { "Content-Type": "application/json", Accept: "text/event-stream" };
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) headers.Authorization = `Bearer ${key}`;
    return headers;
  }

  function askForKey(message, then) {
    afterKey = then;
    keyHelp.textContent = message ||
      "This service needs a key for chat. It is kept in this tab only (session storage).";
    keyForm.hidden = false;
    keyInput.focus();
  }

  keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORAGE, key);
    keyInput.value = "";
    keyForm.hidden = true;
    const then = afterKey;
    afterKey = null;
    if (then) then();
    else input.focus();
  });

  // --- rendering: text nodes and textContent only, so model text can never become markup ---

  function addTurn(role, text) {
    const item = document.createElement("li");
    item.className = `turn ${role}`;
    const who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = role === "user" ? "You:" : "chatperf:";
    const body = document.createElement("p");
    body.className = "text";
    body.textContent = text;
    item.append(who, body);
    conversation.append(item);
    item.scrollIntoView({ block: "end" });
    return item;
  }

  function ms(value) {
    if (value == null) return "?";
    return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(2)} s`;
  }

  function describe(answer) {
    const parts = [];
    const meta = answer.meta;
    if (meta) {
      if (meta.cache === "hit") {
        const similarity = meta.similarity == null ? "" : `, similarity ${meta.similarity.toFixed(2)}`;
        parts.push(`cache hit (${meta.tier}${similarity})`);
        if (meta.variant > 0) parts.push(`cached answer no. ${meta.variant + 1}`);
      } else {
        parts.push("cache miss");
      }
      const reason = meta.routing_reason ? `, ${meta.routing_reason}` : "";
      parts.push(`model ${meta.model} (${meta.model_tier} tier${reason})`);
    }
    const timings = answer.done && answer.done.timings;
    if (timings) parts.push(`TTFT ${ms(timings.ttft_ms)}`, `total ${ms(timings.total_ms)}`);
    if (answer.firstPaintMs != null) {
      const last = answer.lastPaintMs == null ? "" : ` / ${ms(answer.lastPaintMs)}`;
      parts.push(`seen after ${ms(answer.firstPaintMs)}${last}`);
    }
    if (answer.stopped) parts.push("stopped");
    return parts.join(" · ");
  }

  function showError(item, error, retry) {
    const line = document.createElement("p");
    line.className = "error";
    line.setAttribute("role", "alert");
    line.textContent = `${error.message} (${error.code})`;
    if (error.retryable) {
      const again = document.createElement("button");
      again.type = "button";
      again.textContent = "Retry";
      again.setAttribute("aria-label", "Retry this question");
      again.addEventListener("click", retry);
      line.append(" ", again);
    }
    item.append(line);
  }

  // Follow a growing answer only while the reader is at the end, not after they scrolled up.
  function nearBottom() {
    const page = document.documentElement;
    return page.scrollHeight - (window.scrollY + window.innerHeight) < 80;
  }

  // --- typing indicator: from the send to the first token; the page's status region (always
  // there, so screen readers announce each change politely) says the same words ---

  function showTyping(item) {
    const line = document.createElement("p");
    line.className = "typing";
    line.setAttribute("aria-hidden", "true"); // the status region reads it out, once
    const dots = document.createElement("span");
    dots.className = "dots";
    dots.setAttribute("aria-hidden", "true");
    dots.append(document.createElement("span"), document.createElement("span"),
      document.createElement("span"));
    const label = document.createElement("span");
    label.className = "label";
    const say = (text) => { label.textContent = text; status.textContent = text; };
    say("chatperf is typing…");
    line.append(dots, label);
    item.querySelector(".text").after(line);
    return {
      stillWorking() { say("Still working on it…"); },
      remove() { line.remove(); status.textContent = ""; },
    };
  }

  function setBusy(busy) {
    sendButton.disabled = busy;
    stopButton.disabled = !busy;
    conversation.setAttribute("aria-busy", String(busy));
  }

  async function errorOf(response) {
    let error = { code: `http_${response.status}`, message: `the service answered HTTP ${response.status}` };
    try {
      const body = await response.json();
      if (body && body.error) error = { code: body.error.code, message: body.error.message };
    } catch { /* not JSON: keep the status */ }
    error.retryable = [429, 502, 503, 504].includes(response.status);
    return error;
  }

  // --- perceived latency: marks from the send to the frame that showed the text ---

  // Resolves in the task right after the next frame, i.e. once the DOM change made before the
  // call has been rendered: requestAnimationFrame runs just before that frame's paint, and a
  // message posted from it is delivered after the frame.
  function afterPaint() {
    return new Promise((resolve) => requestAnimationFrame(() => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => resolve();
      channel.port2.postMessage(null);
    }));
  }

  function paintMark(answer, which) {
    const mark = `chatperf:${which}#${answer.turn}`;
    performance.mark(mark);
    const measure = performance.measure(`chatperf:${which}`, {
      start: answer.sendMark, end: mark, detail: { turn: answer.turn },
    });
    return measure.duration;
  }

  function report(answer) {
    // A hidden tab paints nothing: its figures would measure the user's absence.
    if (answer.hidden || answer.firstPaintMs == null || !answer.meta) return;
    if (!navigator.sendBeacon) return;
    const timings = { first_paint_ms: Number(answer.firstPaintMs.toFixed(1)), cache: answer.meta.cache };
    if (answer.lastPaintMs != null) timings.last_paint_ms = Number(answer.lastPaintMs.toFixed(1));
    navigator.sendBeacon(BEACON_URL, new Blob([JSON.stringify(timings)], { type: "application/json" }));
  }

  // --- asking ---

  async function stream(question, item) {
    const answer = {
      turn: ++turns, meta: null, done: null, error: null, stopped: false,
      hidden: document.visibilityState === "hidden",
      firstPaintMs: null, lastPaintMs: null, sendMark: "",
    };
    answer.sendMark = `chatperf:send#${answer.turn}`;
    performance.mark(answer.sendMark);
    const onHide = () => { if (document.visibilityState === "hidden") answer.hidden = true; };
    document.addEventListener("visibilitychange", onHide);

    item.querySelectorAll(".meta, .error, .typing").forEach((node) => node.remove());
    const text = item.querySelector(".text");
    const node = document.createTextNode("");
    text.replaceChildren(node);
    const metaLine = document.createElement("p");
    metaLine.className = "meta";
    item.append(metaLine);
    item.classList.add("streaming");
    const typing = showTyping(item);
    const controller = new AbortController();
    active = controller;
    setBusy(true);
    hint.textContent = "";

    let firstPainted = null;
    try {
      const response = await fetch("/api/chat/stream", {
        method: "POST", headers: requestHeaders(), signal: controller.signal,
        body: JSON.stringify({
          message: question.message, history: question.history, session_id: sessionId,
        }),
      });
      if (!response.ok) {
        answer.error = await errorOf(response);
        if (response.status === 401) {
          answer.error.retryable = false;
          askForKey(answer.error.message, () => stream(question, item));
        }
      } else {
        for await (const event of readEvents(response.body)) {
          if (event.name === ":comment") {
            if (event.data === "ping" && !firstPainted) typing.stillWorking();
            continue;
          }
          if (event.name === "meta") {
            answer.meta = event.data;
          } else if (event.name === "token") {
            const following = nearBottom();
            node.appendData(event.data.delta);
            if (following) window.scrollTo(0, document.documentElement.scrollHeight);
            if (!firstPainted) {
              typing.remove(); // in the same frame as the first text
              firstPainted = afterPaint().then(() => { answer.firstPaintMs = paintMark(answer, "first-paint"); });
            }
          } else if (event.name === "done") {
            answer.done = event.data;
          } else if (event.name === "error") {
            answer.error = event.data;
          }
          if (event.name !== "token") metaLine.textContent = describe(answer);
        }
        if (!answer.done && !answer.error) {
          answer.error = { code: "stream_cut", message: "the answer stopped before it was complete", retryable: true };
        }
      }
    } catch (exc) {
      if (exc.name === "AbortError") answer.stopped = true;
      else answer.error = { code: "network_error", message: "could not reach the service", retryable: true };
    } finally {
      document.removeEventListener("visibilitychange", onHide);
      item.classList.remove("streaming");
      typing.remove(); // an error, a stop or an empty answer ends the wait too
    }
    if (firstPainted) await firstPainted;
    if (answer.done) {
      await afterPaint();
      answer.lastPaintMs = paintMark(answer, "last-paint");
    }
    if (answer.done && text.textContent.trim()) {
      // A long answer is cut to the service's message limit so the next question is accepted.
      history.push({ role: "user", content: question.message },
        { role: "assistant", content: text.textContent.slice(0, maxChars) });
    }
    // Only now the next question may go: it must carry this exchange in its history.
    if (active === controller) {
      active = null;
      setBusy(false);
    }
    metaLine.textContent = describe(answer);
    if (answer.error) showError(item, answer.error, () => stream(question, item));
    report(answer);
    if (!active) input.focus();
  }

  function ask(message) {
    addTurn("user", message);
    const item = addTurn("assistant", "");
    stream({ message, history: history.slice(-maxHistory) }, item);
  }

  askForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const message = input.value.trim();
    if (!message || active) return;
    input.value = "";
    if (document.body.dataset.auth === "required" && !sessionStorage.getItem(KEY_STORAGE)) {
      askForKey("", () => ask(message));
      return;
    }
    ask(message);
  });

  stopButton.addEventListener("click", () => { if (active) active.abort(); });

  // A new conversation has no history, so its questions meet the cache's context-free entries.
  $("new-chat").addEventListener("click", () => {
    if (active) {
      active.abort();
      active = null; // the next question need not wait for the old stream to wind down
      setBusy(false);
    }
    history.length = 0;
    sessionId = newSessionId();
    conversation.replaceChildren();
    hint.textContent = "";
    input.focus();
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      askForm.requestSubmit();
    } else if (event.key === "Escape" && active) {
      active.abort();
    }
  });

  // --- quick check while typing: says when the cache already holds an answer ---

  async function quickCheck(message) {
    quickController = new AbortController();
    try {
      const response = await fetch("/api/chat/quick", {
        method: "POST", headers: requestHeaders(), signal: quickController.signal,
        body: JSON.stringify({ message, history: history.slice(-maxHistory), session_id: sessionId }),
      });
      if (!response.ok) return; // a hint is optional; the answer itself reports errors
      const result = await response.json();
      if (result.hit && input.value.trim() === message && !active) {
        hint.textContent = `Instant answer ready (${result.tier} match): press Enter.`;
      }
    } catch { /* aborted by the next keystroke, or offline: no hint */ }
  }

  input.addEventListener("input", () => {
    clearTimeout(quickTimer);
    if (quickController) quickController.abort();
    hint.textContent = "";
    const message = input.value.trim();
    if (message.length < QUICK_MIN_CHARS || active) return;
    if (document.body.dataset.auth === "required" && !sessionStorage.getItem(KEY_STORAGE)) return;
    quickTimer = setTimeout(() => quickCheck(message), QUICK_DELAY_MS);
  });

  input.maxLength = maxChars;
  if (document.body.dataset.auth === "required" && !sessionStorage.getItem(KEY_STORAGE)) {
    askForKey("", null);
  } else {
    input.focus();
  }
})();
