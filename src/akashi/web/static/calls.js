// Akashi — the call list: play a recording in the one list player without leaving the list.
"use strict";
(function () {
  document.addEventListener("DOMContentLoaded", () => {
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
