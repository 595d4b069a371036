// Akashi — the call list: play a recording in the one list player without leaving the list, and keep the
// list current by itself (issue 11 item 7): calls that come in appear, rows being transcribed follow their
// state and show their flags once analysed.
"use strict";
(function () {
  // Asks /calls/rows (the page's own filters) every few seconds while the page is visible, never while it is
  // hidden. Newest first on page 1: new rows go in at their place, the scroll position stays on what the
  // reader looks at. Any other order or page: the page says how many came in and offers to refresh.
  const EVERY_MS = 5000, FRESH_MS = 4000;
  let timer = null, busy = false, announced = false;

  function following(table) {
    return Array.from(table.querySelectorAll("tbody tr[data-call]"))
      .filter((tr) => tr.querySelector("[data-follow]"))
      .slice(0, 50)
      .map((tr) => tr.dataset.call);
  }

  function started(tr) {
    const cell = tr.querySelector("td[data-started]");
    return cell ? +cell.dataset.started : 0;
  }

  function rowFrom(html) {
    const tpl = document.createElement("template");
    tpl.innerHTML = html.trim();
    return tpl.content.firstElementChild;
  }

  // Keeps the row the reader looks at where it is on screen while rows are added above it.
  function keepingScroll(table, change) {
    const rows = Array.from(table.querySelectorAll("tbody tr"));
    const anchor = window.scrollY > 0 ? rows.find((r) => r.getBoundingClientRect().bottom > 0) : null;
    const before = anchor ? anchor.getBoundingClientRect().top : 0;
    change();
    if (anchor && anchor.isConnected) window.scrollBy(0, anchor.getBoundingClientRect().top - before);
  }

  function insert(table, rows) {
    const body = table.tBodies[0];
    const existing = () => Array.from(body.querySelectorAll("tr[data-call]"));
    const full = existing().length >= 50;
    keepingScroll(table, () => {
      rows.forEach((r) => {
        if (body.querySelector('tr[data-call="' + r.id + '"]')) return;
        const tr = rowFrom(r.html);
        if (!tr) return;
        const later = existing().find((x) => started(x) < r.started);
        if (later) body.insertBefore(tr, later);
        else if (!full) body.appendChild(tr);
        else return; // older than a full page: it belongs on a later page
        tr.classList.add("fresh");
        window.setTimeout(() => tr.classList.remove("fresh"), FRESH_MS);
      });
    });
  }

  function replaceRow(table, item) {
    const tr = table.querySelector('tbody tr[data-call="' + item.id + '"]');
    if (!tr) return;
    if (item.html) {
      const fresh = rowFrom(item.html);
      if (fresh) tr.replaceWith(fresh);
      return;
    }
    const span = tr.querySelector("[data-follow]");
    if (!span) return;
    if (item.settled) span.removeAttribute("data-follow");
    if (item.label) { span.textContent = item.label; span.className = "state analysis-" + item.state; }
  }

  async function poll(table) {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const url = new URL(table.dataset.live, window.location.href);
      const inserting = table.dataset.insert === "1";
      // once the page has said that calls came in, only the reload shows them: stop asking about new ones
      const askNew = inserting || !announced;
      if (askNew && table.dataset.after !== "") url.searchParams.set("after", table.dataset.after);
      if (inserting) url.searchParams.set("insert", "1");
      const ids = following(table);
      if (ids.length) url.searchParams.set("follow", ids.join(","));
      if (!askNew && !ids.length) return;
      const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!r.ok) return;
      const info = await r.json();
      if (info.rows.length) {
        insert(table, info.rows);
        const card = document.getElementById("calls-card");
        const empty = document.getElementById("calls-empty");
        if (card) card.hidden = false;
        if (empty) empty.hidden = true;
      }
      info.updated.forEach((item) => replaceRow(table, item));
      const total = document.getElementById("total");
      if (inserting && total && info.total !== undefined) total.textContent = info.total;
      if (askNew && (inserting || table.dataset.after === "")) table.dataset.after = String(info.after);
      if (!inserting && askNew && (info.new || info.more)) {
        const box = document.getElementById("calls-new");
        const text = document.getElementById("calls-new-text");
        if (box && text) {
          text.textContent = box.dataset.text.replace("{n}", info.more ? info.new + "+" : String(info.new));
          box.hidden = false;
          announced = true;
        }
      }
    } catch (e) {
      /* the next round tries again */
    } finally {
      busy = false;
    }
  }
  function schedule(table) {
    if (timer !== null) window.clearInterval(timer);
    timer = null;
    if (document.hidden) return;
    timer = window.setInterval(() => poll(table), EVERY_MS);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const table = document.getElementById("calls");
    if (table && table.dataset.live) {
      if (table.dataset.insert !== "1") {
        // any other order or page: count from the newest call there is now, not from the rows shown here
        table.dataset.after = "";
      }
      poll(table);
      schedule(table);
      document.addEventListener("visibilitychange", () => {
        schedule(table);
        if (!document.hidden) poll(table);
      });
    }
    const card = document.getElementById("list-player-card");
    const player = document.getElementById("list-player");
    const title = document.getElementById("list-player-title");
    if (!card || !player) return;
    // one listener for every play button, the ones that arrive later included
    document.addEventListener("click", (ev) => {
      const btn = ev.target instanceof Element ? ev.target.closest("button.play[data-src]") : null;
      if (!btn) return;
      card.hidden = false;
      if (player.getAttribute("src") !== btn.dataset.src) player.src = btn.dataset.src;
      title.textContent = btn.dataset.title || "";
      player.play().catch(() => {});
      card.scrollIntoView({ block: "nearest" });
    });
  });
})();
