// Akashi — shared page behaviour (no framework): the dashboard trend chart as inline SVG.
"use strict";
(function () {
  function svg(tag, attrs) {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const k in attrs) el.setAttribute(k, attrs[k]);
    return el;
  }
  function drawTrend(box) {
    const series = JSON.parse(box.dataset.series || "[]");
    if (!series.length) return;
    // Drawn at the box's own pixel width so that labels stay 12 px whatever the screen.
    const W = Math.max(240, Math.round(box.clientWidth || 600)), H = 160, left = 26, bottom = 20, top = 8;
    const max = Math.max(1, ...series.map((d) => d.calls));
    const bw = (W - left) / series.length;
    const every = Math.max(1, Math.ceil(44 / bw)); // a date label at least every 44 px
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img" });
    const plotH = H - bottom - top;
    root.appendChild(svg("line", { x1: left, y1: H - bottom, x2: W, y2: H - bottom, stroke: "#c5cad4" }));
    series.forEach((d, i) => {
      const h = (plotH * d.calls) / max, hf = (plotH * d.flagged) / max;
      const x = left + i * bw;
      const r = svg("rect", { x: x + 1, y: H - bottom - h, width: Math.max(1, bw - 2), height: h, fill: "#7d8fb3" });
      const t = svg("title", {}); t.textContent = `${d.day}: ${d.calls} / ${d.flagged}`; r.appendChild(t);
      root.appendChild(r);
      root.appendChild(svg("rect", { x: x + bw / 4, y: H - bottom - hf, width: bw / 2, height: hf, fill: "#8c1d2c" }));
      if ((series.length - 1 - i) % every === 0) {
        const last = i === series.length - 1; // the newest day's label ends at the right edge, never past it
        const lab = svg("text", { x: last ? W - 1 : x + bw / 2, y: H - 5, "font-size": 12,
          "text-anchor": last ? "end" : "middle", fill: "#3d4556" });
        lab.textContent = d.day.slice(5).replace("-", "/"); root.appendChild(lab);
      }
    });
    [[max, top + 10], [0, H - bottom]].forEach(([v, y]) => {
      const lab = svg("text", { x: left - 4, y: y, "font-size": 12, "text-anchor": "end", fill: "#3d4556" });
      lab.textContent = String(v); root.appendChild(lab);
    });
    box.appendChild(root);
  }
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll(".chart[data-series]").forEach(drawTrend);
  });
})();
