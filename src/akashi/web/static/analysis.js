// Akashi — a call page follows its own transcription: queued → transcribing (estimated %) → done.
// Asks the server every few seconds while the work is unsettled and the page is visible (never while it is
// hidden); shows the transcript once it is ready: at once, or, while the recording is playing, through a link
// so that playback is not cut off.
"use strict";
(function () {
  const EVERY_MS = 3000;
  function follow(box) {
    const label = document.getElementById("analysis-label");
    const bar = document.getElementById("analysis-progress");
    const pct = document.getElementById("analysis-pct");
    const audio = document.getElementById("audio");
    let stopped = false, timer = null;
    function later() {
      if (timer !== null) window.clearTimeout(timer);
      timer = stopped || document.hidden ? null : window.setTimeout(tick, EVERY_MS);
    }
    function ready() {
      if (!audio || audio.paused) { window.location.reload(); return; }
      const link = document.getElementById("analysis-ready");
      if (link) link.hidden = false;
    }
    async function tick() {
      timer = null;
      if (stopped || document.hidden) return;
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
          if (info.state === "done" && was !== "done") ready();
          return;
        }
      } catch (e) { /* the next tick tries again */ }
      later();
    }
    document.addEventListener("visibilitychange", () => { if (!document.hidden && !stopped) tick(); else later(); });
    later();
  }
  document.addEventListener("DOMContentLoaded", () => {
    const box = document.getElementById("analysis");
    if (box && box.dataset.poll) follow(box);
  });
})();
