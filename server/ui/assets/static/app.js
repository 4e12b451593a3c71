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

  // live follows the server's digests (/ui/live): what changed over a
  // quarter second, the same bytes for every page watching. onReset runs
  // when changes may have been missed (a reconnect, or the server says so):
  // the page re-reads what it shows. EventSource reconnects by itself.
  function live(query, onDigest, onReset) {
    const dot = $("#live");
    const es = new EventSource("/ui/live" + query);
    let broken = false;
    es.onopen = () => {
      if (dot) dot.classList.add("on");
      if (broken) onReset();
      broken = false;
    };
    es.onerror = () => { if (dot) dot.classList.remove("on"); broken = true; };
    es.addEventListener("digest", (m) => onDigest(JSON.parse(m.data)));
    es.addEventListener("reset", onReset);
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

  // ---- jobs page: each digest brings the states of the jobs that
  // changed, the rows of those that appeared or ended, and the counts.
  function jobsPage() {
    const table = $("#jobs");
    const tbody = $("tbody", table);
    const first = table.dataset.first === "1", filtered = table.dataset.filtered === "1";
    const pageSize = 50;
    function setCounts(c) {
      document.querySelectorAll("[data-count]").forEach((b) => { b.textContent = c[b.dataset.count] || 0; });
    }
    function putRows(html) {
      const tmp = document.createElement("tbody");
      tmp.innerHTML = html;
      const empty = $("#empty");
      [...tmp.children].forEach((fresh) => {
        const id = Number(fresh.dataset.job);
        const old = tbody.querySelector('tr[data-job="' + id + '"]');
        if (old) { old.replaceWith(fresh); return; }
        if (!first || filtered) return; // new jobs show on the first, unfiltered page
        if (empty) empty.remove();
        const after = [...tbody.children].find((tr) => Number(tr.dataset.job) < id);
        if (!after && tbody.children.length >= pageSize) return; // older than the page
        tbody.insertBefore(fresh, after || null);
        fresh.classList.add("flashrow");
      });
      while (tbody.children.length > pageSize) tbody.lastElementChild.remove();
    }
    // resync re-reads the rows shown and the counts, after missed changes.
    async function resync() {
      try {
        setCounts(await (await fetch("/ui/counts")).json());
        const ids = [...tbody.querySelectorAll("tr[data-job]")].map((tr) => "id=" + tr.dataset.job);
        if (!ids.length) return;
        const r = await fetch("/ui/rows?" + ids.join("&"));
        if (r.ok) putRows(await r.text());
      } catch (e) { /* the next digest brings the changes */ }
    }
    live("", (d) => {
      if (d.counts) setCounts(d.counts);
      (d.jobs || []).forEach((j) => {
        const row = tbody.querySelector('tr[data-job="' + j.job + '"]');
        if (!row) return;
        if (j.removed) row.remove();
        else setState($(".state", row), j.state, j.state);
      });
      if (d.rows) {
        // Oldest first, so that each new row goes above the last.
        putRows(Object.keys(d.rows).map(Number).sort((a, b) => a - b).map((id) => d.rows[id]).join(""));
      }
    }, resync);
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

    const tasksField = $('[data-field="Tasks"]'), stateField = $('[data-field="State"]');
    live("?job=" + id, (d) => {
      (d.jobs || []).forEach((j) => {
        if (j.removed) { flash("job " + id + " was removed", false); setState($("#job-state"), "Undetermined", "Removed"); return; }
        setState($("#job-state"), j.state, j.state);
        if (stateField) stateField.textContent = j.state;
      });
      if (d.task_counts && tasksField) tasksField.textContent = d.task_counts;
      (d.tasks || []).forEach((t) => {
        if (grid) grid.set(t.index, t.state);
        if (taskRef && t.index === taskIndex) {
          setState($("#task-state"), t.state, t.text);
          if (t.state === "Running" && logs) logs.started();
          if ((t.state === "Done" || t.state === "Failed") && logs) loadResults(taskRef);
        }
      });
    }, async () => {
      // Changes were missed: re-read the states shown.
      if (grid) grid.reload();
      try {
        const text = (x) => x.state + (x.substate && x.substate.kind ? " " + x.substate.kind + (x.substate.value ? " " + x.substate.value : "") : "");
        const j = await api("GET", "/v1/jobs/" + id);
        setState($("#job-state"), j.state, j.state);
        if (taskRef) {
          const t = await api("GET", "/v1/tasks/" + taskRef);
          setState($("#task-state"), t.state, text(t));
        }
      } catch (e) { /* the next digest brings the changes */ }
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
    return { set, reload: load };
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
