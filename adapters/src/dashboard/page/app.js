// QlooPhone's built-in dashboard: reads /logs?format=envelope (the recent
// past first, then every event live) and polls /metrics for the chart.
// No framework, no build step: the server embeds this file as it is.
"use strict";

(() => {
  const MAX_ENDED = 200; // ended calls kept on the page
  const MAX_ITEMS = 400; // timeline entries kept a call
  const METRICS_EVERY_MS = 2000;
  const CHART_POINTS = 150; // five minutes at one point every two seconds
  const KEY_STORE = "qloophone.dashboardKey";

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  /** @type {Map<string, Call>} */
  const calls = new Map();
  let selected = null;
  let follow = false;
  let filter = "";
  let skewMs = 0; // server clock minus this browser's
  let key = takeKeyFromFragment() ?? sessionStorage.getItem(KEY_STORE) ?? "";
  let socket = null;
  let retryMs = 1000;
  let listDirty = true;
  let detailDirty = true;

  function takeKeyFromFragment() {
    const match = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (!match) return null;
    const found = decodeURIComponent(match[1]);
    sessionStorage.setItem(KEY_STORE, found);
    history.replaceState(null, "", location.pathname + location.search);
    return found;
  }

  // ---- calls -------------------------------------------------------------

  class Call {
    constructor(id, at) {
      this.id = id;
      this.startedAt = at;
      this.endedAt = null;
      this.reason = null;
      this.caller = null;
      this.callSid = null;
      this.instance = null; // the instance holding it, in a fleet
      this.model = null;
      this.state = "connecting";
      this.usage = null;
      this.cost = 0; // null: the model's prices are not known
      this.tools = 0;
      this.qloo = 0;
      this.bargeIns = 0;
      this.keys = "";
      this.errors = 0;
      this.items = []; // timeline entries: {kind, ...}
      this.open = new Map(); // item_id -> streaming bubble entry
      this.row = null;
      this.rendered = 0; // timeline entries already in the DOM
      this.search = "";
    }
    label() {
      return this.caller || "unknown caller";
    }
    push(item) {
      this.items.push(item);
      if (this.items.length > MAX_ITEMS) {
        this.items.splice(0, this.items.length - MAX_ITEMS);
        this.rendered = -1; // rebuild
      }
      if (this.id === selected) detailDirty = true;
    }
  }

  function callFor(id, at) {
    let call = calls.get(id);
    if (!call) {
      call = new Call(id, at);
      calls.set(id, call);
      listDirty = true;
    }
    return call;
  }

  function apply(envelope, live) {
    const { call: id, at, event } = envelope;
    if (!id || !event || typeof event.type !== "string") return;
    const when = Date.parse(at) || Date.now();
    if (live) skewMs = when - Date.now();
    if (event.type === "call.started") {
      const call = new Call(id, when);
      const previous = calls.get(id);
      if (previous && previous.row) previous.row.remove();
      calls.set(id, call);
      call.caller = event.caller || null;
      call.callSid = event.call_sid || null;
      call.model = typeof event.model === "string" ? event.model : null;
      call.instance = typeof envelope.instance === "string" ? envelope.instance : null;
      listDirty = true;
      if (follow || selected === null) select(id, false);
      return;
    }
    const call = callFor(id, when);
    switch (event.type) {
      case "call.state":
        if (call.endedAt === null) call.state = event.state;
        break;
      case "turn":
        finishTurn(call, event.speaker, event.text);
        break;
      case "response.output_audio_transcript.delta":
      case "response.audio_transcript.delta":
        stream(call, "assistant", event.item_id, event.delta);
        break;
      case "conversation.item.input_audio_transcription.delta":
        stream(call, "caller", event.item_id, event.delta);
        break;
      case "tool.called":
        call.tools += 1;
        if (typeof event.qloo_requests === "number") call.qloo += event.qloo_requests;
        call.push({
          kind: "tool",
          name: String(event.name),
          args: event.arguments,
          result: event.result,
          error: !!event.is_error,
          ms: Number(event.latency_ms) || 0,
        });
        break;
      case "barge_in": {
        call.bargeIns += 1;
        const cut = call.open.get(event.item_id);
        if (cut) {
          cut.cut = true;
          cut.streaming = false;
          call.open.delete(event.item_id);
          cut.dirty = true;
        }
        const unheard = Number(event.unheard_items) || 0;
        const dropped = unheard ? `; ${unheard} unheard part${unheard === 1 ? "" : "s"} of the answer dropped` : "";
        call.push({ kind: "note", cls: "barge", text: `caller spoke over the assistant (heard ${fmtMs(event.audio_end_ms)}${dropped})` });
        break;
      }
      case "dtmf":
        call.keys += String(event.digit);
        call.push({ kind: "note", cls: "key", text: `key pressed: ${event.digit}` });
        break;
      case "error":
        call.errors += 1;
        call.push({ kind: "note", cls: "err", text: String(event.message) });
        break;
      case "model_reconnecting":
        call.push({ kind: "note", cls: "barge", text: `voice model lost: reconnecting (attempt ${event.attempt})` });
        break;
      case "model_reconnected":
        call.push({ kind: "note", cls: "", text: `voice model back after ${fmtMs(event.gap_ms)}` });
        break;
      case "handoff": {
        const outcomes = { answered: "a person took the call", busy: "the line was busy", no_answer: "nobody answered", failed: "the transfer failed" };
        const text = outcomes[event.outcome] || `transfer: ${String(event.outcome)}`;
        call.push({ kind: "note", cls: event.outcome === "answered" ? "end" : "err", text: `transfer: ${text}` });
        break;
      }
      case "texted": {
        const failures = { opted_out: "the caller opted out of texts", not_textable: "this number cannot take texts", refused: "the text service refused it", unavailable: "the text service was unavailable", maybe_sent: "the text service did not confirm it" };
        const text = event.sent
          ? `picks texted to the caller (${Number(event.picks) || 0} picks)`
          : `text not sent: ${failures[event.failure] || String(event.failure)}`;
        call.push({ kind: "note", cls: event.sent ? "end" : "err", text });
        break;
      }
      case "reported": {
        const states = { delivered: "delivered", retrying: "not taken yet, will retry", given_up: "given up" };
        const text = `call report ${states[event.state] || String(event.state)} (attempt ${Number(event.attempts) || 0})`;
        call.push({ kind: "note", cls: event.state === "delivered" ? "end" : "err", text });
        break;
      }
      case "stream.failed":
        call.errors += 1;
        call.push({ kind: "note", cls: "err", text: `Twilio says the stream failed: ${String(event.error)}` });
        break;
      case "usage":
        call.usage = event.total || null;
        call.cost = event.cost_usd === null ? null : Number(event.cost_usd) || 0;
        break;
      case "call.ended":
        call.endedAt = when;
        call.reason = event.reason;
        call.state = "ended";
        for (const entry of call.open.values()) {
          entry.streaming = false;
          entry.dirty = true;
        }
        call.open.clear();
        call.push({ kind: "note", cls: "end", text: `call ended: ${String(event.reason).replace(/_/g, " ")}` });
        trimEnded();
        break;
      default:
        return; // other model events: nothing to show
    }
    if (call.id === selected) detailDirty = true;
    call.dirty = true;
    listDirty = true;
  }

  function stream(call, speaker, itemId, delta) {
    if (typeof delta !== "string" || !itemId) return;
    let entry = call.open.get(itemId);
    if (!entry) {
      entry = { kind: "turn", speaker, text: "", streaming: true };
      call.open.set(itemId, entry);
      call.push(entry);
    }
    entry.text += delta;
    entry.dirty = true;
    if (call.id === selected) detailDirty = true;
  }

  // A finished turn replaces the oldest bubble of that speaker still
  // streaming (its deltas came first), or is a bubble of its own.
  function finishTurn(call, speaker, text) {
    for (const [itemId, entry] of call.open) {
      if (entry.speaker === speaker) {
        entry.text = String(text);
        entry.streaming = false;
        entry.dirty = true;
        call.open.delete(itemId);
        return;
      }
    }
    call.push({ kind: "turn", speaker, text: String(text), streaming: false });
  }

  function trimEnded() {
    const ended = [...calls.values()].filter((c) => c.endedAt !== null);
    if (ended.length <= MAX_ENDED) return;
    ended.sort((a, b) => a.endedAt - b.endedAt);
    for (const call of ended.slice(0, ended.length - MAX_ENDED)) {
      if (call.row) call.row.remove();
      calls.delete(call.id);
      if (selected === call.id) selected = null;
    }
  }

  // ---- the connection ----------------------------------------------------

  function setLink(state, text) {
    const link = $("link");
    link.dataset.state = state;
    link.textContent = text;
  }

  function logsUrl() {
    const url = new URL("logs", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.search = "?format=envelope";
    if (key) url.search += "&token=" + encodeURIComponent(key);
    return url.toString();
  }

  function connect() {
    setLink("connecting", "connecting…");
    let opened = false;
    socket = new WebSocket(logsUrl());
    socket.onopen = () => {
      opened = true;
      retryMs = 1000;
    };
    socket.onmessage = (message) => {
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      if (data.type === "connection.established") {
        // The server replays what it remembers: start from that.
        for (const call of calls.values()) if (call.row) call.row.remove();
        calls.clear();
        replaying = true;
        setLink("live", "replaying…");
        return;
      }
      if (data.type === "connection.replayed") {
        replaying = false;
        setLink("live", "live");
        if (selected && !calls.has(selected)) selected = null;
        if (selected === null) selectFirst();
        listDirty = detailDirty = true;
        return;
      }
      if (data.type === "connection.lagged") {
        setLink("live", `live (skipped ${data.skipped} events)`);
        return;
      }
      apply(data, !replaying);
    };
    socket.onclose = () => {
      socket = null;
      if (!opened) {
        checkKey();
        return;
      }
      retryLater();
    };
  }
  let replaying = false;

  function retryLater() {
    const wait = retryMs;
    retryMs = Math.min(retryMs * 2, 10000);
    const until = Date.now() + wait;
    const tick = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      if (left <= 0) {
        connect();
        return;
      }
      setLink("down", `disconnected: retrying in ${left} s`);
      setTimeout(tick, 250);
    };
    tick();
  }

  // A socket that never opened: a wrong or missing key (401), or the
  // server is away. A plain GET of /logs tells which.
  async function checkKey() {
    try {
      const response = await fetch(new URL("logs", location.href), {
        headers: key ? { Authorization: "Bearer " + key } : {},
        cache: "no-store",
      });
      if (response.status === 401) {
        askForKey(!!key);
        return;
      }
    } catch {
      // unreachable: retry below
    }
    retryLater();
  }

  function askForKey(refused) {
    setLink("key", "dashboard key needed");
    $("key-error").hidden = !refused;
    $("key-dialog").hidden = false;
    $("key-input").value = "";
    $("key-input").focus();
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    key = $("key-input").value.trim();
    sessionStorage.setItem(KEY_STORE, key);
    $("key-dialog").hidden = true;
    connect();
  });

  // ---- metrics -----------------------------------------------------------

  const chart = { calls: [], relay: [] };
  let lastBuckets = null;

  function parseMetrics(text) {
    const samples = [];
    for (const line of text.split("\n")) {
      if (!line || line.startsWith("#")) continue;
      const match = /^([A-Za-z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
      if (!match) continue;
      const labels = {};
      if (match[2]) {
        for (const pair of match[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
      }
      samples.push({ name: match[1], labels, value: Number(match[3]) });
    }
    return samples;
  }

  // The 99th percentile of what was observed since the last scrape, as
  // the upper bound of its bucket, in milliseconds.
  function p99(now, before) {
    if (!before) return null;
    const rows = [...now.entries()].map(([le, count]) => [le, count - (before.get(le) || 0)]);
    rows.sort((a, b) => a[0] - b[0]);
    const total = rows.length ? rows[rows.length - 1][1] : 0;
    if (total <= 0) return null;
    for (const [le, count] of rows) if (count >= 0.99 * total) return le * 1000;
    return null;
  }

  async function pollMetrics() {
    try {
      const response = await fetch(new URL("metrics", location.href), {
        headers: key ? { Authorization: "Bearer " + key } : {},
        cache: "no-store",
      });
      if (!response.ok) throw new Error(String(response.status));
      const samples = parseMetrics(await response.text());
      const value = (name) => samples.find((s) => s.name === name)?.value;
      const buckets = { uplink: new Map(), downlink: new Map() };
      for (const s of samples) {
        if (s.name === "qloophone_relay_latency_seconds_bucket" && buckets[s.labels.direction]) {
          buckets[s.labels.direction].set(s.labels.le === "+Inf" ? Infinity : Number(s.labels.le), s.value);
        }
      }
      const up = p99(buckets.uplink, lastBuckets?.uplink);
      const down = p99(buckets.downlink, lastBuckets?.downlink);
      lastBuckets = buckets;
      const hits = value("qloophone_cache_hits_total") || 0;
      const misses = value("qloophone_cache_misses_total") || 0;
      $("t-cache").textContent = hits + misses ? `${Math.round((100 * hits) / (hits + misses))} %` : "–";
      $("t-relay").textContent = up === null && down === null ? "–" : `${fmtP(up)} / ${fmtP(down)}`;
      chart.calls.push(value("qloophone_active_calls") ?? 0);
      const worst = [up, down].filter((v) => v !== null && isFinite(v));
      chart.relay.push(worst.length ? Math.max(...worst) : null);
    } catch {
      chart.calls.push(null);
      chart.relay.push(null);
    }
    for (const series of [chart.calls, chart.relay]) {
      if (series.length > CHART_POINTS) series.splice(0, series.length - CHART_POINTS);
    }
    drawChart();
  }

  function drawChart() {
    const canvas = $("chart");
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (canvas.width !== width * ratio) canvas.width = width * ratio;
    if (canvas.height !== height * ratio) canvas.height = height * ratio;
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    const step = width / CHART_POINTS;
    const x0 = width - chart.calls.length * step;
    const maxCalls = Math.max(4, ...chart.calls.filter((v) => v !== null));
    g.fillStyle = "#2f6f9f";
    chart.calls.forEach((v, i) => {
      if (v === null) return;
      const h = (v / maxCalls) * (height - 14);
      g.fillRect(x0 + i * step, height - h, Math.max(1, step - 1), h);
    });
    const relay = chart.relay.filter((v) => v !== null);
    const maxRelay = Math.max(1, ...relay);
    g.strokeStyle = "#f0b54a";
    g.lineWidth = 1.5;
    g.beginPath();
    let drawing = false;
    chart.relay.forEach((v, i) => {
      if (v === null) {
        drawing = false;
        return;
      }
      const x = x0 + i * step + step / 2;
      const y = height - 2 - (v / maxRelay) * (height - 16);
      if (drawing) g.lineTo(x, y);
      else g.moveTo(x, y);
      drawing = true;
    });
    g.stroke();
    g.fillStyle = "#8b95a5";
    g.font = "10px system-ui, sans-serif";
    g.fillText(`${maxCalls} calls · ${fmtP(maxRelay)} ms`, 4, 10);
  }

  // ---- rendering ---------------------------------------------------------

  function fmtMs(ms) {
    const n = Number(ms) || 0;
    return n < 1000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(1)} s`;
  }
  function fmtP(ms) {
    if (ms === null || ms === undefined) return "–";
    if (!isFinite(ms)) return "> 160";
    return ms < 1 ? ms.toFixed(2) : ms < 10 ? ms.toFixed(1) : String(Math.round(ms));
  }
  function fmtDuration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const m = Math.floor(s / 60);
    return `${m}:${String(s % 60).padStart(2, "0")}`;
  }
  function fmtCost(usd) {
    return usd === null ? "unknown" : "$" + usd.toFixed(4);
  }
  function stateText(state) {
    return state === "tool_running" ? "tool running" : state;
  }
  function duration(call) {
    const end = call.endedAt ?? Date.now() + skewMs;
    return end - call.startedAt;
  }
  function compact(value, limit) {
    let text = typeof value === "string" ? value : JSON.stringify(value);
    if (text === undefined) text = "";
    return text.length > limit ? text.slice(0, limit - 1) + "…" : text;
  }
  // One line saying what a tool answered.
  function summary(result, error) {
    if (result && typeof result === "object") {
      if (error || result.error) return String(result.error ?? result.message ?? compact(result, 160));
      const list = Object.values(result).find(Array.isArray);
      if (list) {
        const names = list.slice(0, 4).map((r) => (r && (r.name || r.title)) || "").filter(Boolean);
        return `${list.length} result${list.length === 1 ? "" : "s"}${names.length ? ": " + names.join(", ") : ""}${list.length > names.length && names.length ? ", …" : ""}`;
      }
      if (result.name) return String(result.name);
    }
    return compact(result, 160);
  }

  function visible(call) {
    if (!filter) return true;
    const hay = `${call.label()} ${call.id} ${call.callSid ?? ""} ${stateText(call.state)}`.toLowerCase();
    return hay.includes(filter);
  }

  function ordered() {
    const live = [];
    const ended = [];
    for (const call of calls.values()) (call.endedAt === null ? live : ended).push(call);
    live.sort((a, b) => b.startedAt - a.startedAt);
    ended.sort((a, b) => b.endedAt - a.endedAt);
    return { live: live.filter(visible), ended: ended.filter(visible), all: live.length, done: ended.length };
  }

  function makeRow(call) {
    const row = el("div", "row");
    row.id = "row-" + call.id;
    row.setAttribute("role", "option");
    row.dataset.call = call.id;
    row.append(el("span", "dot"), el("span", "who"), el("span", "dur"));
    const sub = el("div", "sub");
    sub.append(el("span", "st"), el("span", "cost mono"));
    row.append(sub);
    row.addEventListener("click", () => select(call.id, false));
    call.row = row;
    return row;
  }

  function paintRow(call) {
    const row = call.row || makeRow(call);
    const state = call.state;
    if (row.dataset.state !== state) row.dataset.state = state;
    row.classList.toggle("ended", call.endedAt !== null);
    row.setAttribute("aria-selected", String(call.id === selected));
    const [, who, dur, sub] = row.children;
    setText(who, call.label());
    setText(dur, fmtDuration(duration(call)));
    const status = call.endedAt === null ? stateText(state) : String(call.reason).replace(/_/g, " ");
    setText(sub.children[0], call.instance ? `${status} · ${call.instance}` : status);
    setText(sub.children[1], fmtCost(call.cost));
    return row;
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function renderList() {
    const { live, ended, all, done } = ordered();
    place($("live-list"), live);
    place($("ended-list"), ended);
    $("g-live").textContent = `In progress · ${live.length}`;
    $("g-ended").textContent = `Recently ended · ${ended.length}`;
    $("no-calls").hidden = live.length + ended.length > 0;
    setText($("t-live"), String(all));
    setText($("t-ended"), String(done));
    let cost = 0;
    let unknown = false;
    for (const call of calls.values()) {
      if (call.cost === null) unknown = true;
      else cost += call.cost;
    }
    setText($("t-cost"), (unknown ? "≥ " : "") + fmtCost(cost));
    const list = $("calls");
    if (selected) list.setAttribute("aria-activedescendant", "row-" + selected);
    else list.removeAttribute("aria-activedescendant");
  }

  // Puts rows in order, moving only those out of place.
  function place(container, list) {
    let cursor = container.firstElementChild;
    for (const call of list) {
      const row = paintRow(call);
      if (row === cursor) {
        cursor = cursor.nextElementSibling;
      } else {
        container.insertBefore(row, cursor);
      }
    }
    while (cursor) {
      const next = cursor.nextElementSibling;
      cursor.remove();
      cursor = next;
    }
  }

  function renderDetail() {
    const call = selected ? calls.get(selected) : null;
    $("placeholder").hidden = !!call;
    $("call-view").hidden = !call;
    if (!call) return;
    setText($("d-caller"), call.label());
    setText($("d-stream"), call.id);
    setText($("d-sid"), call.callSid ?? "no call sid");
    const on = $("d-instance");
    on.hidden = !call.instance;
    setText(on, call.instance ? `on ${call.instance}` : "");
    const state = $("d-state");
    state.dataset.state = call.state;
    setText(state, call.endedAt === null ? stateText(call.state) : "ended");
    setText($("d-started"), new Date(call.startedAt).toLocaleTimeString());
    setText($("d-model"), call.model ?? "–");
    setText($("d-duration"), fmtDuration(duration(call)));
    const u = call.usage;
    if (u) {
      const input = u.input_text_tokens + u.input_audio_tokens;
      const output = u.output_text_tokens + u.output_audio_tokens;
      setText($("d-tokens"), `${input.toLocaleString()} / ${output.toLocaleString()}`);
      setText(
        $("d-split"),
        `${(u.input_audio_tokens + u.output_audio_tokens).toLocaleString()} · ${(u.input_text_tokens + u.output_text_tokens).toLocaleString()}` +
          (u.cached_input_tokens ? ` (${u.cached_input_tokens.toLocaleString()} cached)` : ""),
      );
    } else {
      setText($("d-tokens"), "0 / 0");
      setText($("d-split"), "–");
    }
    setText($("d-cost"), fmtCost(call.cost));
    setText($("d-tools"), String(call.tools));
    setText($("d-qloo"), String(call.qloo));
    setText($("d-barge"), `${call.bargeIns} · ${call.keys || "–"}`);
    renderTimeline(call);
  }

  let timelineOf = null;
  function renderTimeline(call) {
    const list = $("timeline");
    const detail = $("detail");
    const atBottom = detail.scrollTop + detail.clientHeight >= detail.scrollHeight - 40;
    if (timelineOf !== call.id || call.rendered < 0) {
      list.replaceChildren();
      for (const item of call.items) item.node = null;
      call.rendered = 0;
      timelineOf = call.id;
    }
    for (const item of call.items.slice(0, call.rendered)) {
      if (item.dirty && item.node) paintItem(item);
    }
    for (const item of call.items.slice(call.rendered)) {
      list.append(paintItem(item));
    }
    call.rendered = call.items.length;
    if (atBottom) detail.scrollTop = detail.scrollHeight;
  }

  function paintItem(item) {
    item.dirty = false;
    if (item.kind === "turn") {
      const node = item.node || el("li", "turn-" + item.speaker);
      if (!item.node) {
        node.append(el("div", "who-label", item.speaker === "caller" ? "caller" : "assistant"), el("div", "bubble"));
        item.node = node;
      }
      node.classList.toggle("streaming", !!item.streaming);
      node.classList.toggle("cut", !!item.cut);
      setText(node.lastChild, item.text + (item.cut ? " (cut short)" : ""));
      return node;
    }
    if (item.kind === "tool") {
      const node = el("li", "card" + (item.error ? " err" : ""));
      const head = el("div", "head");
      head.append(el("span", "", `⚙ ${item.name}`), el("span", "lat", fmtMs(item.ms)));
      node.append(head, el("div", "args", compact(item.args, 240)), el("div", "res", summary(item.result, item.error)));
      node.dataset.tool = item.name;
      item.node = node;
      return node;
    }
    const node = el("li", "note " + (item.cls || ""), item.text);
    item.node = node;
    return node;
  }

  function frame() {
    if (listDirty) {
      listDirty = false;
      renderList();
    }
    if (detailDirty) {
      detailDirty = false;
      renderDetail();
    }
    requestAnimationFrame(frame);
  }

  // Durations tick once a second.
  setInterval(() => {
    listDirty = true;
    detailDirty = true;
  }, 1000);

  // ---- selection and keys ------------------------------------------------

  function select(id, focusDetail) {
    selected = id;
    listDirty = detailDirty = true;
    $("calls").setAttribute("aria-activedescendant", "row-" + id);
    const call = calls.get(id);
    if (call && call.row) call.row.scrollIntoView({ block: "nearest" });
    if (focusDetail) $("detail").focus();
  }

  function selectFirst() {
    const { live, ended } = ordered();
    const first = live[0] || ended[0];
    if (first) select(first.id, false);
  }

  function move(by) {
    const { live, ended } = ordered();
    const list = [...live, ...ended];
    if (!list.length) return;
    let at = list.findIndex((c) => c.id === selected);
    if (by === Infinity) at = list.length - 1;
    else if (by === -Infinity) at = 0;
    else at = at < 0 ? 0 : Math.min(list.length - 1, Math.max(0, at + by));
    follow = false;
    select(list[at].id, false);
  }

  document.addEventListener("keydown", (event) => {
    const typing = event.target instanceof HTMLInputElement;
    if (event.key === "Escape") {
      $("help").hidden = true;
      if (typing && event.target.id === "filter") {
        event.target.value = "";
        filter = "";
        listDirty = true;
        $("calls").focus();
      }
      return;
    }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    const keys = {
      ArrowDown: () => move(1),
      j: () => move(1),
      ArrowUp: () => move(-1),
      k: () => move(-1),
      Home: () => move(-Infinity),
      End: () => move(Infinity),
      Enter: () => selected && select(selected, true),
      "/": () => $("filter").focus(),
      f: () => {
        follow = !follow;
        setLink($("link").dataset.state, follow ? "live · following newest" : "live");
      },
      "?": () => {
        $("help").hidden = false;
        $("help-close").focus();
      },
    };
    const action = keys[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });

  $("filter").addEventListener("input", (event) => {
    filter = event.target.value.trim().toLowerCase();
    listDirty = true;
  });
  $("help-open").addEventListener("click", () => {
    $("help").hidden = false;
    $("help-close").focus();
  });
  $("help-close").addEventListener("click", () => {
    $("help").hidden = true;
  });
  window.addEventListener("resize", drawChart);

  connect();
  pollMetrics();
  setInterval(pollMetrics, METRICS_EVERY_MS);
  requestAnimationFrame(frame);
})();
