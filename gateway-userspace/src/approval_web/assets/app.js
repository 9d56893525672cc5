// The approvals page. Everything shown comes from agents' requests, so it
// is only ever put in the page as text (textContent), never as HTML.
"use strict";

(() => {
  const csrf = document.querySelector('meta[name="gateway-csrf"]').content;
  const $ = (id) => document.getElementById(id);
  const WHO_KEY = "gateway-approvals-who";
  const state = { pending: [], selected: null, detail: null, refreshes: 0 };

  const who = $("who");
  who.value = localStorage.getItem(WHO_KEY) || "";
  who.addEventListener("change", () => localStorage.setItem(WHO_KEY, who.value.trim()));

  async function api(path, options) {
    const response = await fetch(path, { credentials: "same-origin", cache: "no-store", ...options });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      throw new Error(body && body.message ? body.message : `HTTP ${response.status}`);
    }
    return body;
  }

  function duration(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${s % 60} s`;
    return `${Math.floor(m / 60)} h ${m % 60} min`;
  }

  function authority(a) {
    const host = a.host.includes(":") ? `[${a.host}]` : a.host;
    const usual = (a.scheme === "https" && a.port === 443) || (a.scheme === "http" && a.port === 80);
    return usual ? host : `${host}:${a.port}`;
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    td.className = className;
    return td;
  }

  function renderList() {
    const rows = $("pending-rows");
    rows.replaceChildren();
    for (const a of state.pending) {
      const tr = document.createElement("tr");
      tr.dataset.id = a.id;
      if (a.id === state.selected) tr.classList.add("selected");
      const age = cell("", "age");
      age.dataset.since = String(a.created_unix_ms);
      const expires = cell("", "expires");
      expires.dataset.until = String(a.expires_unix_ms);
      tr.append(
        cell(a.agent, "agent"),
        cell(a.method, "method"),
        cell(authority(a), "host"),
        cell(a.path_and_query, "path"),
        cell(a.reason ? `${a.rule}: ${a.reason}` : a.rule, "rule"),
        age,
        expires,
      );
      tr.addEventListener("click", () => select(a.id));
      rows.append(tr);
    }
    $("count").textContent = String(state.pending.length);
    $("pending").hidden = state.pending.length === 0;
    $("empty").hidden = state.pending.length !== 0;
    tick();
  }

  function tick() {
    const now = Date.now();
    for (const td of document.querySelectorAll("td.age")) {
      td.textContent = duration(now - Number(td.dataset.since));
    }
    for (const td of document.querySelectorAll("td.expires")) {
      const left = Number(td.dataset.until) - now;
      td.textContent = left > 0 ? duration(left) : "expired";
    }
  }

  function showError(error) {
    $("error").textContent = `Could not load approvals: ${error.message}`;
    $("error").hidden = false;
  }

  async function refresh() {
    const mine = ++state.refreshes;
    let pending;
    try {
      pending = await api("/api/approvals?pending=1");
    } catch (error) {
      showError(error);
      return;
    }
    // An older refresh finishing late must not overwrite a newer one.
    if (mine !== state.refreshes) return;
    $("error").hidden = true;
    state.pending = pending;
    renderList();
    if (state.selected) await loadDetail(state.selected);
  }

  async function select(id) {
    state.selected = id;
    $("d-result").textContent = "";
    $("deny-reason").value = "";
    renderList();
    await loadDetail(id);
  }

  async function loadDetail(id) {
    try {
      const a = await api(`/api/approvals/${encodeURIComponent(id)}`);
      if (state.selected === id) renderDetail(a);
    } catch (error) {
      showError(error);
    }
  }

  function requestText(a) {
    const lines = [`${a.method} ${a.path_and_query} HTTP/1.1`];
    // As the CLI's `approvals show`: the stored Host header, else one made up.
    if (!a.headers.some(([name]) => name.toLowerCase() === "host")) lines.push(`Host: ${authority(a)}`);
    for (const [name, value] of a.headers) lines.push(`${name}: ${value}`);
    lines.push("");
    if (a.body_len > 0) lines.push(a.body_preview);
    return lines.join("\n");
  }

  function renderDetail(a) {
    state.detail = a;
    const pending = a.status === "pending";
    $("detail").hidden = false;
    $("detail").dataset.id = a.id;
    $("d-id").textContent = a.id;
    $("d-status").textContent = a.status;
    $("d-agent").textContent = a.agent;
    $("d-target").textContent = `${a.scheme}://${authority(a)}`;
    $("d-rule").textContent = a.rule;
    $("d-reason").textContent = a.reason || "—";
    const shown = new TextEncoder().encode(a.body_preview).length;
    $("d-body").textContent = a.body_len === 0 ? "none"
      : `${a.body_len} bytes${shown < a.body_len ? " (the preview below is shortened)" : ""}`;
    $("d-sha").textContent = a.body_sha256;
    $("d-created").textContent = new Date(a.created_unix_ms).toLocaleString();
    $("d-expires").textContent = new Date(a.expires_unix_ms).toLocaleString();
    $("d-decided").textContent = a.decided_by
      ? `${a.status} by ${a.decided_by} via ${a.decided_via}${a.decision_reason ? `: ${a.decision_reason}` : ""}`
      : "—";
    $("d-request").textContent = requestText(a);
    for (const id of ["approve", "deny", "deny-reason"]) $(id).disabled = !pending;
  }

  async function decide(verdict) {
    const a = state.detail;
    if (!a) return;
    const body = { by: who.value.trim() || null };
    const reason = $("deny-reason").value.trim();
    if (verdict === "deny" && reason) body.reason = reason;
    for (const id of ["approve", "deny"]) $(id).disabled = true;
    try {
      const decided = await api(`/api/approvals/${encodeURIComponent(a.id)}/${verdict}`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Gateway-Csrf": csrf },
        body: JSON.stringify(body),
      });
      renderDetail(decided);
      $("d-result").textContent = verdict === "approve" ? "Approved." : "Denied.";
    } catch (error) {
      $("d-result").textContent = `Not recorded: ${error.message}`;
    }
    await refresh();
  }

  $("approve").addEventListener("click", () => decide("approve"));
  $("deny").addEventListener("click", () => decide("deny"));

  function live(on) {
    $("live").textContent = on ? "live" : "reconnecting…";
    $("live").classList.toggle("off", !on);
  }

  function connect() {
    const source = new EventSource("/api/events");
    // Events missed while disconnected are covered by a full reload.
    source.addEventListener("open", () => {
      live(true);
      refresh();
    });
    for (const name of ["created", "changed", "resync"]) {
      source.addEventListener(name, () => refresh());
    }
    source.addEventListener("error", () => {
      live(false);
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        setTimeout(connect, 3000);
      }
    });
  }

  setInterval(tick, 1000);
  refresh();
  connect();
})();
