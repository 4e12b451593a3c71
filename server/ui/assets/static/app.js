// berth dashboard: live updates from the API's events (SSE), the job
// page's controls, output, results and task grid. Plain JS, no build step.
"use strict";
(function () {
  const csrf = (document.querySelector('meta[name="berth-csrf"]') || {}).content || "";
  const page = document.body.dataset.page;
  const $ = (s, el) => (el || document).querySelector(s);

  function flash(msg, ok) {
    const f = $("#flash");
    if (!f) return;
    f.textContent = msg;
    f.className = ok ? "flash ok" : "flash";
    f.hidden = false;
    clearTimeout(flash.t);
    flash.t = setTimeout(() => { f.hidden = true; }, ok ? 3000 : 8000);
  }

  // api calls the API with the session's CSRF token; errors carry the
  // server's message.
  async function api(method, url) {
    const r = await fetch(url, { method, headers: { "X-Berth-CSRF": csrf } });
    if (!r.ok) {
      let msg = r.status + " " + r.statusText;
      try { const b = await r.json(); if (b.error) msg = b.error.message; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    return r.status === 204 ? null : r.json();
  }

  function stateClass(st) { return "st-" + String(st || "").toLowerCase(); }
  function setState(el, st, text) {
    if (!el) return;
    el.className = el.className.replace(/\bst-[a-z_]+/g, "").trim() + " " + stateClass(st);
    el.textContent = text || st;
  }
  function stateText(ev) {
    const sub = ev.substate && ev.substate.kind ? " " + ev.substate.kind + (ev.substate.value ? " " + ev.substate.value : "") : "";
    return ev.state + sub;
  }

  // events opens the event stream; EventSource reconnects by itself.
  function events(query, onEvent) {
    const live = $("#live");
    // A quarter second's events come in one write: cheap for a busy server.
    const es = new EventSource("/v1/events" + query + (query ? "&" : "?") + "coalesce=250ms");
    es.onopen = () => live && live.classList.add("on");
    es.onerror = () => live && live.classList.remove("on");
    es.addEventListener("task", (m) => onEvent(JSON.parse(m.data)));
    return es;
  }

  // throttle runs fn at most once per ms, trailing.
  function throttle(fn, ms) {
    let t = null, again = false;
    return function () {
      if (t) { again = true; return; }
      fn();
      t = setTimeout(function tick() {
        if (again) { again = false; fn(); t = setTimeout(tick, ms); } else { t = null; }
      }, ms);
    };
  }

  // ---- jobs page: states change from the events themselves; new and
  // ended jobs' rows, and the counts, are re-read at most once a second,
  // in one request each, however busy the server.
  function jobsPage() {
    const table = $("#jobs");
    const tbody = $("tbody", table);
    const first = table.dataset.first === "1", filtered = table.dataset.filtered === "1";
    const pageSize = 50;
    const dirty = new Set(), known = new Set();
    // The server caches the ended jobs' counts for a second: keep asking
    // a little after the last event.
    let countsDirty = false, lastEvent = 0;
    tbody.querySelectorAll("tr[data-job]").forEach((tr) => known.add(Number(tr.dataset.job)));
    async function refresh() {
      if (countsDirty) {
        countsDirty = Date.now() - lastEvent < 2500;
        try {
          const c = await (await fetch("/ui/counts")).json();
          document.querySelectorAll("[data-count]").forEach((b) => { b.textContent = c[b.dataset.count] || 0; });
        } catch (e) { countsDirty = true; }
      }
      if (!dirty.size) return;
      const ids = [...dirty].slice(-pageSize);
      dirty.clear();
      try {
        const r = await fetch("/ui/rows?" + ids.map((id) => "id=" + id).join("&"));
        if (!r.ok) return;
        const tmp = document.createElement("tbody");
        tmp.innerHTML = await r.text();
        const empty = $("#empty");
        if (empty && tmp.children.length) empty.remove();
        [...tmp.children].forEach((fresh) => {
          const id = Number(fresh.dataset.job);
          const old = tbody.querySelector('tr[data-job="' + id + '"]');
          if (old) { old.replaceWith(fresh); return; }
          const after = [...tbody.children].find((tr) => Number(tr.dataset.job) < id);
          tbody.insertBefore(fresh, after || null);
          fresh.classList.add("flashrow");
        });
        while (tbody.children.length > pageSize) {
          known.delete(Number(tbody.lastElementChild.dataset.job));
          tbody.lastElementChild.remove();
        }
      } catch (e) { ids.forEach((id) => dirty.add(id)); }
    }
    setInterval(refresh, 1000);
    events("", (ev) => {
      countsDirty = true;
      lastEvent = Date.now();
      const row = tbody.querySelector('tr[data-job="' + ev.job + '"]');
      if (ev.removed) { if (row) row.remove(); known.delete(ev.job); return; }
      if (row) {
        setState($(".state", row), ev.job_state, ev.job_state);
        if (ev.job_ended) dirty.add(ev.job);
      } else if (first && !filtered && !known.has(ev.job)) {
        known.add(ev.job);
        dirty.add(ev.job);
      }
    });
  }

  // ---- job page
  const gridColors = { U: "#444", Q: "#8a8f98", H: "#b08b2e", R: "#2f7de1", S: "#8e5bd0", q: "#e08a2c", h: "#b08b2e", D: "#2e9d57", F: "#d13c3c" };
  const letterState = { U: "Undetermined", Q: "Queued", H: "QueuedHeld", R: "Running", S: "Suspended", q: "Requeued", h: "RequeuedHeld", D: "Done", F: "Failed" };
  const stateLetter = {};
  Object.keys(letterState).forEach((k) => { stateLetter[letterState[k]] = k; });

  function jobPage() {
    const head = $("#job");
    const id = head.dataset.job;
    const taskRef = head.dataset.task;
    const taskIndex = head.dataset.index === "" ? -1 : Number(head.dataset.index);
    let grid = null;

    document.querySelectorAll("button[data-action]").forEach((b) => {
      b.addEventListener("click", async () => {
        const action = b.dataset.action, ref = b.dataset.ref || id;
        if (b.dataset.confirm && !window.confirm(b.dataset.confirm)) return;
        b.disabled = true;
        try {
          if (action === "remove") {
            await api("DELETE", "/v1/jobs/" + id + "?force=true");
            location.href = "/ui/";
            return;
          }
          const r = await api("POST", "/v1/jobs/" + ref + "/" + action);
          flash(action + ": " + r.changed + " task(s) changed", true);
        } catch (e) {
          flash(action + " failed: " + e.message, false);
        } finally {
          b.disabled = false;
        }
      });
    });

    if (head.dataset.array === "1") grid = loadGrid(id);
    let logs = null;
    if (taskRef) logs = setupLogs(taskRef, head.dataset.taskState);

    events("?job=" + id, (ev) => {
      if (ev.removed) { flash("job " + id + " was removed", false); setState($("#job-state"), "Undetermined", "Removed"); return; }
      setState($("#job-state"), ev.job_state, ev.job_state);
      if (grid) grid.set(ev.index, ev.state);
      if (taskRef && ev.index === taskIndex) {
        setState($("#task-state"), ev.state, stateText(ev));
        if (ev.state === "Running" && logs) logs.started();
        if ((ev.state === "Done" || ev.state === "Failed") && logs) loadResults(taskRef);
      }
    });
    if (taskRef) loadResults(taskRef);
  }

  function setupLogs(ref, state) {
    const pre = $("#log"), sel = $("#log-stream"), followB = $("#log-follow"), tailB = $("#log-tail"), dl = $("#log-download");
    const maxChars = 1 << 20;
    let ctl = null;
    function stop() { if (ctl) ctl.abort(); ctl = null; followB.classList.remove("on"); }
    function append(text) {
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.textContent += text;
      if (pre.textContent.length > maxChars) pre.textContent = pre.textContent.slice(-maxChars / 2);
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    }
    async function follow() {
      stop();
      pre.textContent = "";
      ctl = new AbortController();
      followB.classList.add("on");
      const c = ctl;
      try {
        const r = await fetch("/v1/tasks/" + ref + "/logs?follow=true&stream=" + sel.value, { signal: c.signal });
        if (!r.ok) throw new Error((await r.json()).error.message);
        const rd = r.body.getReader(), dec = new TextDecoder();
        for (;;) {
          const { value, done } = await rd.read();
          if (done) break;
          append(dec.decode(value, { stream: true }));
        }
        pre.dataset.ended = "1";
      } catch (e) {
        if (e.name !== "AbortError") flash("output: " + e.message, false);
      } finally {
        if (ctl === c) { ctl = null; followB.classList.remove("on"); }
      }
    }
    async function tail() {
      stop();
      try {
        const r = await fetch("/v1/tasks/" + ref + "/logs?stream=" + sel.value);
        if (!r.ok) throw new Error((await r.json()).error.message);
        const t = await r.text();
        pre.textContent = t.length > 65536 ? "…" + t.slice(-65536) : t;
        pre.scrollTop = pre.scrollHeight;
      } catch (e) { flash("output: " + e.message, false); }
    }
    followB.addEventListener("click", () => (ctl ? stop() : follow()));
    tailB.addEventListener("click", tail);
    sel.addEventListener("change", () => {
      dl.href = "/v1/tasks/" + ref + "/logs?stream=" + sel.value;
      if (ctl) follow(); else tail();
    });
    // Following shows the whole output of an ended task too, then stops.
    if (state === "Queued" || state === "QueuedHeld" || state === "Requeued" || state === "RequeuedHeld") {
      pre.textContent = "(not started)";
    } else follow();
    return { started: () => { if (!ctl) follow(); } };
  }

  async function loadResults(ref) {
    const box = $("#results");
    try {
      const { results } = await api("GET", "/v1/tasks/" + ref + "/results");
      if (!results.length) return;
      const objects = results.every((v) => v && typeof v === "object" && !Array.isArray(v));
      const cols = objects ? [...new Set(results.flatMap((v) => Object.keys(v)))] : ["value"];
      const t = document.createElement("table");
      const hr = t.createTHead().insertRow();
      cols.forEach((c) => { const th = document.createElement("th"); th.textContent = c; hr.appendChild(th); });
      const tb = t.createTBody();
      results.forEach((v) => {
        const tr = tb.insertRow();
        cols.forEach((c) => {
          const x = objects ? v[c] : v;
          tr.insertCell().textContent = x === undefined ? "" : typeof x === "string" ? x : JSON.stringify(x);
        });
      });
      box.replaceChildren(t);
    } catch (e) { flash("results: " + e.message, false); }
  }

  // loadGrid draws every task as a cell of a canvas: 100,000 tasks are
  // 100,000 rectangles, not DOM nodes.
  function loadGrid(id) {
    const canvas = $("#grid"), legend = $("#legend");
    let index = [], states = [], pos = new Map(), cell = 10, cols = 1, pending = [];
    const ctx = canvas.getContext("2d");
    function draw1(i) {
      ctx.fillStyle = gridColors[states[i]] || "#444";
      ctx.fillRect((i % cols) * cell, Math.floor(i / cols) * cell, cell - 1, cell - 1);
    }
    function drawLegend() {
      const counts = {};
      for (const s of states) counts[s] = (counts[s] || 0) + 1;
      legend.replaceChildren(...Object.keys(letterState).filter((k) => counts[k]).map((k) => {
        const span = document.createElement("span");
        span.className = "count " + stateClass(letterState[k]);
        span.textContent = letterState[k] + " " + counts[k];
        return span;
      }));
    }
    const relegend = throttle(drawLegend, 500);
    async function load() {
      const r = await fetch("/ui/jobs/" + id + "/grid");
      if (!r.ok) { flash("grid: " + r.status, false); return; }
      const g = await r.json();
      index = g.index; states = g.states.split("");
      pos = new Map();
      index.forEach((x, i) => pos.set(x, i));
      const n = states.length;
      cell = n <= 2000 ? 14 : n <= 20000 ? 7 : 4;
      const width = Math.max(canvas.parentElement.clientWidth - 2, cell * 10);
      cols = Math.max(1, Math.floor(width / cell));
      canvas.width = cols * cell;
      canvas.height = Math.ceil(n / cols) * cell;
      for (let i = 0; i < n; i++) draw1(i);
      for (const [x, st] of pending) set(x, st);
      pending = null;
      drawLegend();
      canvas.dataset.ready = String(n);
    }
    function set(x, st) {
      if (pending) { pending.push([x, st]); return; }
      const i = pos.get(x);
      if (i === undefined || !stateLetter[st]) return;
      states[i] = stateLetter[st];
      draw1(i);
      relegend();
    }
    function at(e) {
      const r = canvas.getBoundingClientRect();
      const i = Math.floor((e.clientY - r.top) / cell) * cols + Math.floor((e.clientX - r.left) / cell);
      return i >= 0 && i < states.length && (e.clientX - r.left) < cols * cell ? i : -1;
    }
    canvas.addEventListener("mousemove", (e) => {
      const i = at(e);
      canvas.title = i < 0 ? "" : "task " + id + "." + index[i] + ": " + letterState[states[i]];
    });
    canvas.addEventListener("click", (e) => {
      const i = at(e);
      if (i >= 0) location.href = "/ui/jobs/" + id + "?task=" + index[i];
    });
    load();
    return { set };
  }

  // ---- workers page: re-read every few seconds (heartbeats are not events).
  function workersPage() {
    setInterval(async () => {
      try {
        const r = await fetch(location.href);
        if (!r.ok) return;
        const doc = new DOMParser().parseFromString(await r.text(), "text/html");
        const fresh = doc.querySelector("#workers-body");
        if (fresh) $("#workers-body").replaceWith(fresh);
      } catch (e) { /* next tick retries */ }
    }, 5000);
  }

  if (page === "jobs" && $("#jobs")) jobsPage();
  if (page === "jobs" && $("#job")) jobPage();
  if (page === "workers") workersPage();
})();
