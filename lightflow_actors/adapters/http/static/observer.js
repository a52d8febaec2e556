// The observer: renders GET system/tree, follows GET system/events (SSE) to refresh it
// live, shows GET actors/{id}, and posts stop/restart/kill. Plain JS, no framework.
// The stream is read with fetch() (not EventSource) so it can send the bearer token;
// it reconnects with Last-Event-ID, and a "gap" or "end" event triggers a full refresh.
(() => {
  "use strict";
  const body = document.body;
  const base = body.dataset.base || "";
  const needsToken = body.dataset.needsToken === "true";
  const $ = (id) => document.getElementById(id);
  const state = { nodes: new Map(), selected: null, selectedKey: null, lastEventId: null,
                  refreshTimer: null, summaryTimer: null };

  const token = () => sessionStorage.getItem("lightflow.token") || "";
  const authHeaders = () => (token() ? { Authorization: "Bearer " + token() } : {});

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("data-")) node.setAttribute(key, String(value));
      else node[key] = value;
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  async function getJSON(path) {
    const response = await fetch(base + "/" + path, { headers: { Accept: "application/json" } });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || response.statusText);
    return data;
  }

  // -- tree ---------------------------------------------------------------------------
  async function loadTree() {
    const nodes = new Map();
    let cursor = 0;
    for (;;) {
      const page = await getJSON("system/tree?limit=10000&cursor=" + cursor);
      for (const node of page.nodes) nodes.set(node.id, node);
      if (page.next_cursor === null) break;
      cursor = page.next_cursor;
    }
    state.nodes = nodes;
    renderTree();
  }

  function label(node) {
    return node.name || node.child_id || node.actor_class;
  }

  function renderNode(node) {
    const meta = `mailbox ${node.mailbox} · processed ${node.processed} · restarts ${node.restarts}`;
    const row = el("span", { class: `node status-${node.status}` + (state.selected === node.id ? " selected" : ""),
                             title: `${node.actor_class} #${node.id} (${node.status})` },
      el("span", { class: "dot" }),
      el("span", { class: "label" }, label(node)),
      el("span", { class: "kind" }, `${node.actor_class} #${node.id}` +
         (node.strategy ? ` · ${node.strategy}` : "")),
      el("span", { class: "meta" }, meta),
      node.last_crash ? el("span", { class: "crash" }, node.last_crash) : null);
    row.addEventListener("click", () => select(node.id));
    const item = el("li", { class: node.kind === "supervisor" ? "sup" : "worker",
                            "data-id": node.id, "data-label": label(node),
                            "data-status": node.status, "data-restarts": node.restarts }, row);
    const kids = node.children.map((id) => state.nodes.get(id)).filter(Boolean);
    if (kids.length) item.append(el("ul", {}, ...kids.map(renderNode)));
    return item;
  }

  // A selected child that is restarted comes back with a new id: follow it by its
  // supervisor and child id, so the detail pane stays on "worker-2" across crashes.
  const specKey = (node) => (node.child_id === null ? null : `${node.parent}/${node.child_id}`);

  function renderTree() {
    if (state.selected !== null && !state.nodes.has(state.selected) && state.selectedKey) {
      const same = [...state.nodes.values()].find((n) => specKey(n) === state.selectedKey);
      if (same) state.selected = same.id;
    }
    const roots = [...state.nodes.values()].filter((n) => n.parent === null || !state.nodes.has(n.parent));
    $("tree").replaceChildren(...roots.map(renderNode));
    $("tree-count").textContent = `${state.nodes.size} actors`;
    if (state.selected === null) return;
    if (state.nodes.has(state.selected)) {
      showActor(state.selected);
    } else {
      $("detail").replaceChildren(el("p", {}, `Actor #${state.selected} has exited.`));
      $("actions").hidden = true;
    }
  }

  function scheduleRefresh() {
    if (state.refreshTimer !== null) return;
    state.refreshTimer = setTimeout(() => {
      state.refreshTimer = null;
      loadTree().catch(showError);
    }, 150);
  }

  // -- summary ------------------------------------------------------------------------
  async function loadSummary() {
    const s = await getJSON("system");
    const mb = s.memory_rss_bytes === null ? "n/a" : (s.memory_rss_bytes / 1048576).toFixed(1) + " MB";
    const cells = [["actors", s.actors], ["supervisors", s.supervisors],
                   ["messages/s", s.messages_per_s.toFixed(1)], ["memory (RSS)", mb],
                   ["uptime", formatDuration(s.uptime_s)], ["last event", s.last_event_id]];
    $("summary").replaceChildren(...cells.map(([k, v]) => el("div", {}, el("b", {}, v), el("span", {}, k))));
  }

  function formatDuration(seconds) {
    const s = Math.floor(seconds);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
  }

  // -- one actor ----------------------------------------------------------------------
  function select(id) {
    state.selected = id;
    state.selectedKey = state.nodes.has(id) ? specKey(state.nodes.get(id)) : null;
    for (const row of document.querySelectorAll(".node.selected")) row.classList.remove("selected");
    const item = document.querySelector(`li[data-id="${id}"] > .node`);
    if (item) item.classList.add("selected");
    $("action-result").textContent = "";
    showActor(id);
  }

  async function showActor(id) {
    let actor;
    try {
      actor = await getJSON(`actors/${id}?events=10`);
    } catch (error) {
      if (state.selected === id) {
        $("detail").replaceChildren(el("p", {}, String(error.message)));
        $("actions").hidden = true;
      }
      return;
    }
    if (state.selected !== id) return;
    const rows = [["id", actor.id], ["name", actor.name ?? "—"], ["class", actor.kind],
      ["status", actor.status], ["supervisor", actor.supervisor ?? "none"],
      ["child id", actor.child_id ?? "—"], ["parent", actor.parent ?? "—"],
      ["children", actor.children.join(", ") || "—"], ["links", actor.links.join(", ") || "—"],
      ["monitors", actor.monitors.join(", ") || "—"],
      ["monitored by", actor.monitored_by.join(", ") || "—"], ["mailbox", actor.mailbox],
      ["processed", actor.processed], ["restarts", actor.restarts],
      ["last crash", actor.last_crash ?? "—"]];
    const dl = el("dl", {});
    for (const [k, v] of rows) dl.append(el("dt", {}, k), el("dd", { "data-field": k }, v));
    const recent = el("ul", { class: "recent" }, ...actor.events.map((e) =>
      el("li", { class: e.kind }, `#${e.seq} ${e.kind}` + (e.reason ? `: ${e.reason}` : ""))));
    $("detail").replaceChildren(dl, recent);
    $("actions").hidden = false;
    $("actions").dataset.id = actor.id;
  }

  async function act(action) {
    const id = $("actions").dataset.id;
    const result = $("action-result");
    result.className = "result";
    result.textContent = `${action} #${id}…`;
    const response = await fetch(`${base}/actors/${id}/${action}`, { method: "POST", headers: authHeaders() });
    const data = await response.json();
    if (!response.ok) {
      result.className = "result error";
      result.textContent = data.error;
      if (response.status === 401 || response.status === 403) $("token-form").hidden = false;
      return;
    }
    result.textContent = `${action} #${data.id}: ` + (data.exit_reason ?? "done") +
      (data.new_id ? ` → new actor #${data.new_id}` : "");
    scheduleRefresh();
  }

  // -- event stream (SSE over fetch) --------------------------------------------------
  function addEvent(event) {
    const list = $("events");
    const orderly = event.kind === "exited" && ["normal", "shutdown"].includes(event.reason);
    list.prepend(el("li", { class: event.kind + (orderly ? " orderly" : ""), "data-seq": event.seq },
      `#${event.seq} ${event.kind} ${event.name || event.actor_kind} #${event.actor}` +
      (event.reason ? ` — ${event.reason}` : "")));
    while (list.children.length > 200) list.lastChild.remove();
  }

  function setLive(on, text) {
    const live = $("live");
    live.className = "live " + (on ? "on" : "off");
    live.textContent = text;
  }

  function handleFrame(frame) {
    let kind = "message", data = "", id = null;
    for (const line of frame.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") kind = value;
      else if (field === "data") data += value;
      else if (field === "id") id = value;
    }
    if (!data) return;
    if (id !== null) state.lastEventId = id;
    if (kind === "gap" || kind === "end") { scheduleRefresh(); return; }
    addEvent(JSON.parse(data));
    scheduleRefresh();
  }

  async function stream() {
    const headers = { Accept: "text/event-stream", ...authHeaders() };
    if (state.lastEventId !== null) headers["Last-Event-ID"] = state.lastEventId;
    const response = await fetch(base + "/system/events", { headers });
    if (response.status === 401 || response.status === 403) {
      const data = await response.json();
      $("token-form").hidden = false;
      setLive(false, "events: " + data.error);
      return false;
    }
    if (!response.ok || !response.body) throw new Error("event stream: HTTP " + response.status);
    setLive(true, "live");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        handleFrame(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
    return true;
  }

  async function follow() {
    for (;;) {
      let again = true;
      try {
        again = await stream();
      } catch (error) {
        setLive(false, "reconnecting…");
      }
      if (!again) return;
      setLive(false, "reconnecting…");
      await new Promise((resolve) => setTimeout(resolve, 2000));
      scheduleRefresh();
    }
  }

  function showError(error) {
    setLive(false, String(error.message || error));
  }

  // -- start --------------------------------------------------------------------------
  $("actions").addEventListener("click", (event) => {
    const action = event.target.dataset && event.target.dataset.action;
    if (action) act(action).catch(showError);
  });
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("lightflow.token", $("token").value.trim());
    location.reload();
  });
  loadTree().catch(showError);
  loadSummary().catch(showError);
  state.summaryTimer = setInterval(() => loadSummary().catch(() => {}), 2000);
  if (needsToken && !token()) {
    // No stream without the token: ask for it (the page reloads once it is given).
    $("token-form").hidden = false;
    setLive(false, "token needed for live updates");
    setInterval(() => loadTree().catch(() => {}), 5000);
  } else {
    follow();
  }
})();
