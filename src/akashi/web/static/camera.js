// Akashi — camera page: day timeline (segments and gaps), playback from any point, range export.
"use strict";
(function () {
  const el = document.getElementById("timeline-data");
  const canvas = document.getElementById("timeline");
  const video = document.getElementById("video");
  if (!el || !canvas) return;
  const tl = JSON.parse(el.textContent);
  const info = document.getElementById("seg-info");
  function draw() {
    const w = (canvas.width = canvas.clientWidth), h = (canvas.height = canvas.clientHeight);
    const g = canvas.getContext("2d");
    g.clearRect(0, 0, w, h);
    const x = (s) => (s / 86400) * w;
    g.fillStyle = "#7d8fb3";
    tl.segments.forEach((s) => g.fillRect(x(s.start), 12, Math.max(1, x(s.end) - x(s.start)), h - 24));
    g.fillStyle = "#f0b7b0";
    tl.gaps.forEach((s) => g.fillRect(x(s.start), 12, Math.max(1, x(s.end) - x(s.start)), h - 24));
    g.fillStyle = "#5b6475"; g.font = "10px sans-serif";
    for (let hr = 0; hr <= 24; hr += 3) { g.fillRect(x(hr * 3600), 0, 1, 8); g.fillText(String(hr), x(hr * 3600) + 2, 9); }
  }
  function play(sec) {
    if (liveAbort) { liveAbort.abort(); liveAbort = null; }
    const seg = tl.segments.find((s) => sec >= s.start && sec < s.end) || tl.segments.find((s) => s.start >= sec);
    if (!seg || !video) return;
    video.src = `/api/v1/camera-segments/${seg.id}/media`;
    video.currentTime = Math.max(0, sec - seg.start);
    video.play();
    if (info) info.textContent = `${seg.started_jst} – ${seg.ended_jst}`;
    video.onended = () => { const next = tl.segments.find((s) => s.start >= seg.end - 0.01 && s.id !== seg.id); if (next) play(next.start); };
  }
  canvas.addEventListener("click", (ev) => {
    const r = canvas.getBoundingClientRect();
    play(((ev.clientX - r.left) / r.width) * 86400);
  });
  const form = document.getElementById("range-export");
  if (form) {
    form.addEventListener("submit", () => {
      const day = form.dataset.day;
      const s = `${day}T${form.start_time.value}+09:00`, e = `${day}T${form.end_time.value}+09:00`;
      form.action = `/api/v1/cameras/${form.dataset.camera}/export?start=${encodeURIComponent(s)}&end=${encodeURIComponent(e)}`;
    });
  }
  // Live view: the server remuxes RTSP to fragmented MP4; Media Source Extensions play it.
  const liveBtn = document.getElementById("live");
  let liveAbort = null;
  async function startLive() {
    if (liveAbort) liveAbort.abort();
    liveAbort = new AbortController();
    const resp = await fetch(liveBtn.dataset.src, { credentials: "same-origin", signal: liveAbort.signal });
    const mime = resp.headers.get("X-Akashi-MSE-Type");
    if (!resp.ok || !mime || !window.MediaSource || !MediaSource.isTypeSupported(mime)) {
      if (info) info.textContent = `${liveBtn.textContent}: ${resp.status} ${mime || ""}`;
      return;
    }
    const ms = new MediaSource();
    video.onended = null;
    video.src = URL.createObjectURL(ms);
    await new Promise((ok) => ms.addEventListener("sourceopen", ok, { once: true }));
    const sb = ms.addSourceBuffer(mime);
    sb.mode = "sequence";
    const queue = [];
    const pump = () => { if (!sb.updating && queue.length) sb.appendBuffer(queue.shift()); };
    sb.addEventListener("updateend", () => {
      // stay close to the live edge and keep the buffer short
      const b = sb.buffered;
      if (b.length && b.end(b.length - 1) - video.currentTime > 3) video.currentTime = b.end(b.length - 1) - 0.5;
      pump();
    });
    video.play().catch(() => {});
    if (info) info.textContent = liveBtn.textContent;
    const reader = resp.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      queue.push(value);
      pump();
    }
  }
  if (liveBtn && video) liveBtn.addEventListener("click", () => { startLive().catch(() => {}); });
  window.addEventListener("resize", draw);
  draw();
})();
