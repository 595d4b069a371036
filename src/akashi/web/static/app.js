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
    const W = 600, H = 160, pad = 18;
    const max = Math.max(1, ...series.map((d) => d.calls));
    const bw = (W - pad) / series.length;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
    series.forEach((d, i) => {
      const h = ((H - pad) * d.calls) / max, hf = ((H - pad) * d.flagged) / max;
      const x = pad + i * bw;
      const r = svg("rect", { x: x + 2, y: H - pad - h, width: bw - 4, height: h, fill: "#7d8fb3" });
      const t = svg("title", {}); t.textContent = `${d.day}: ${d.calls} / ${d.flagged}`; r.appendChild(t);
      root.appendChild(r);
      root.appendChild(svg("rect", { x: x + bw / 4, y: H - pad - hf, width: bw / 2, height: hf, fill: "#8c1d2c" }));
      if (i % 2 === 0) {
        const lab = svg("text", { x: x + bw / 2, y: H - 4, "font-size": 10, "text-anchor": "middle", fill: "#5b6475" });
        lab.textContent = d.day.slice(5); root.appendChild(lab);
      }
    });
    const top = svg("text", { x: 2, y: 12, "font-size": 10, fill: "#5b6475" }); top.textContent = String(max);
    root.appendChild(top);
    box.appendChild(root);
  }
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll(".chart[data-series]").forEach(drawTrend);
  });
})();
