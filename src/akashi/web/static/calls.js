// Akashi — the call list: play a recording in the one list player without leaving the list, and follow
// the transcription of rows still in progress.
"use strict";
(function () {
  // Rows still being transcribed follow their state (a few at a time); a finished one says so in place and
  // links to its call, since re-running the search would write another search entry to the audit log.
  const EVERY_MS = 5000, MAX_FOLLOWED = 20;
  function followRows() {
    const open = Array.from(document.querySelectorAll("span[data-follow]")).slice(0, MAX_FOLLOWED);
    if (!open.length) return;
    Promise.all(open.map(async (el) => {
      try {
        const r = await fetch(el.dataset.follow, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (!r.ok) { el.removeAttribute("data-follow"); return; }
        const info = await r.json();
        el.textContent = info.label;
        el.className = "state analysis-" + info.state;
        if (info.settled) el.removeAttribute("data-follow");
      } catch (e) { /* tried again next round */ }
    })).then(() => window.setTimeout(followRows, EVERY_MS));
  }
  document.addEventListener("DOMContentLoaded", () => {
    window.setTimeout(followRows, EVERY_MS);
    const card = document.getElementById("list-player-card");
    const player = document.getElementById("list-player");
    const title = document.getElementById("list-player-title");
    if (!card || !player) return;
    document.querySelectorAll("button.play[data-src]").forEach((btn) => {
      btn.addEventListener("click", () => {
        card.hidden = false;
        if (player.getAttribute("src") !== btn.dataset.src) player.src = btn.dataset.src;
        title.textContent = btn.dataset.title || "";
        player.play().catch(() => {});
        card.scrollIntoView({ block: "nearest" });
      });
    });
  });
})();
