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
  const liveBtn = document.getElementById("live");
  if (liveBtn && video) {
    liveBtn.addEventListener("click", () => {
      video.onended = null;
      video.src = liveBtn.dataset.src;
      video.play();
      if (info) info.textContent = liveBtn.textContent;
    });
  }
  window.addEventListener("resize", draw);
  draw();
})();
