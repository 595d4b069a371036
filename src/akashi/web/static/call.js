// Akashi — call page: stereo player with per-channel mute (Web Audio), waveform with flag markers,
// transcript synced to playback. Data comes from the JSON block the server renders.
"use strict";
(function () {
  const dataEl = document.getElementById("player-data");
  const audio = document.getElementById("audio");
  if (!dataEl || !audio) return;
  const data = JSON.parse(dataEl.textContent);
  const canvas = document.getElementById("wave");
  const segs = Array.from(document.querySelectorAll("#transcript .seg"));
  let peaks = null;
  let duration = data.duration || 0;

  // Channel mute through Web Audio: element -> splitter -> gain per channel -> merger -> speakers.
  let ctx = null;
  const gains = [];
  function ensureGraph() {
    if (ctx) return;
    const AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return;
    ctx = new AC();
    const src = ctx.createMediaElementSource(audio);
    const split = ctx.createChannelSplitter(2);
    const merge = ctx.createChannelMerger(2);
    src.connect(split);
    for (let ch = 0; ch < 2; ch++) {
      const g = ctx.createGain();
      g.gain.value = document.getElementById("mute-" + ch).checked ? 0 : 1;
      // A mono recording feeds both ears from channel 0.
      split.connect(g, data.channels === 1 ? 0 : ch);
      g.connect(merge, 0, ch);
      gains.push(g);
    }
    merge.connect(ctx.destination);
  }
  audio.addEventListener("play", () => { ensureGraph(); if (ctx && ctx.state === "suspended") ctx.resume(); });
  [0, 1].forEach((ch) => {
    const box = document.getElementById("mute-" + ch);
    box.addEventListener("change", () => { ensureGraph(); if (gains[ch]) gains[ch].gain.value = box.checked ? 0 : 1; });
  });

  // Waveform: customer (left) above the axis, operator (right) below; flags as red bands.
  function draw() {
    if (!canvas) return;
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth * dpr, h = canvas.clientHeight * dpr;
    canvas.width = w; canvas.height = h;
    const g = canvas.getContext("2d");
    g.clearRect(0, 0, w, h);
    const mid = h / 2;
    if (duration > 0) {
      g.fillStyle = "rgba(140,29,44,0.18)";
      for (const f of data.flags) {
        const x0 = (f.start_s / duration) * w, x1 = Math.max(x0 + 2 * dpr, (f.end_s / duration) * w);
        g.fillRect(x0, 0, x1 - x0, h);
      }
    }
    if (peaks) {
      const colors = ["#3c5a99", "#2f7d5b"];
      peaks.peaks.forEach((chan, ci) => {
        g.fillStyle = colors[ci % 2];
        const n = chan.length, bw = w / Math.max(1, n);
        for (let i = 0; i < n; i++) {
          const a = chan[i] * (mid - 4);
          if (ci === 0) g.fillRect(i * bw, mid - a, Math.max(1, bw - 0.5), a);
          else g.fillRect(i * bw, mid, Math.max(1, bw - 0.5), a);
        }
      });
    }
    if (duration > 0) {
      g.fillStyle = "#8c1d2c";
      for (const f of data.flags) g.fillRect((f.start_s / duration) * w, 0, 2 * dpr, 10 * dpr);
      const x = (audio.currentTime / duration) * w;
      g.fillStyle = "#111"; g.fillRect(x, 0, 2 * dpr, h);
    }
    g.fillStyle = "#999"; g.fillRect(0, mid, w, 1);
  }
  fetch(data.peaks, { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : null))
    .then((p) => { if (p) { peaks = p; if (p.duration_s) duration = p.duration_s; } draw(); })
    .catch(draw);
  if (canvas) {
    canvas.addEventListener("click", (ev) => {
      const r = canvas.getBoundingClientRect();
      if (duration > 0) audio.currentTime = ((ev.clientX - r.left) / r.width) * duration;
    });
    window.addEventListener("resize", draw);
  }

  // Transcript follows playback; a click on a line (or a flag) seeks there.
  let active = null;
  audio.addEventListener("timeupdate", () => {
    const t = audio.currentTime;
    const now = segs.find((s) => t >= +s.dataset.start && t < +s.dataset.end) || null;
    if (now !== active) {
      if (active) active.classList.remove("active");
      if (now) { now.classList.add("active"); now.scrollIntoView({ block: "nearest" }); }
      active = now;
    }
    draw();
  });
  audio.addEventListener("loadedmetadata", () => { if (isFinite(audio.duration)) duration = audio.duration; draw(); });
  function seek(t) { audio.currentTime = t; audio.play(); }
  segs.forEach((s) => s.addEventListener("click", () => seek(+s.dataset.start)));
  document.querySelectorAll(".seek").forEach((b) => b.addEventListener("click", () => seek(+b.dataset.t)));
})();
