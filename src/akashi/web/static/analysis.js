// Akashi — a call page follows its own transcription: queued → transcribing (estimated %) → done.
// Asks the server every few seconds while the work is unsettled; reloads once the transcript is ready.
"use strict";
(function () {
  const EVERY_MS = 3000;
  function follow(box) {
    const label = document.getElementById("analysis-label");
    const bar = document.getElementById("analysis-progress");
    const pct = document.getElementById("analysis-pct");
    let stopped = false;
    async function tick() {
      if (stopped) return;
      try {
        const r = await fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (!r.ok) { stopped = true; return; }
        const info = await r.json();
        const was = box.dataset.state;
        box.dataset.state = info.state;
        label.textContent = info.label;
        label.className = "state analysis-" + info.state;
        if (info.progress !== null && info.progress !== undefined) {
          bar.hidden = false; bar.value = info.progress; pct.textContent = "≈ " + info.progress + "%";
        } else { bar.hidden = true; pct.textContent = ""; }
        if (info.settled) {
          stopped = true;
          if (info.state === "done" && was !== "done") window.location.reload();
          return;
        }
      } catch (e) { /* the next tick tries again */ }
      window.setTimeout(tick, EVERY_MS);
    }
    window.setTimeout(tick, EVERY_MS);
  }
  document.addEventListener("DOMContentLoaded", () => {
    const box = document.getElementById("analysis");
    if (box && box.dataset.poll) follow(box);
  });
})();
