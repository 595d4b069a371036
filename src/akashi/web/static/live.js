// The live board (/live): follows /live/stream (server-sent events) and posts warn/end commands.
// No inline script or style (CSP): everything the page needs is in data-* attributes of #live-board.
"use strict";
(() => {
  const board = document.getElementById("live-board");
  if (!board) return;
  const d = board.dataset;
  const list = document.getElementById("live-calls");
  const tpl = document.getElementById("live-call-tpl");
  const empty = document.getElementById("live-empty");
  const state = document.getElementById("live-state");
  const alertsBtn = document.getElementById("live-alerts");
  const SHOWN = new Set(["flag", "key", "warning", "long_call"]);
  const ALERT = new Set(["flag", "key", "long_call"]);
  const KIND = { flag: d.kindFlag, key: d.kindKey, warning: d.kindWarning, long_call: d.kindLongCall };
  const calls = new Map(); // call_id -> {call, el, seen: Set of event ids}
  let audio = null;

  const locale = d.lang === "en" ? "en-GB" : "ja-JP";
  const clock = (iso) =>
    new Date(iso).toLocaleTimeString(locale, { timeZone: "Asia/Tokyo", hour12: false });
  const two = (n) => String(n).padStart(2, "0");
  function duration(sec) {
    const s = Math.max(0, Math.floor(sec));
    const h = Math.floor(s / 3600);
    return (h ? h + ":" : "") + two(Math.floor((s % 3600) / 60)) + ":" + two(s % 60);
  }

  function beep() {
    // A short two-tone chime made here (no audio file): needs one press of the alerts button first.
    try {
      audio = audio || new AudioContext();
      const t = audio.currentTime;
      [880, 660].forEach((f, i) => {
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        osc.frequency.value = f;
        gain.gain.setValueAtTime(0.0001, t + i * 0.18);
        gain.gain.exponentialRampToValueAtTime(0.3, t + i * 0.18 + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, t + i * 0.18 + 0.16);
        osc.connect(gain).connect(audio.destination);
        osc.start(t + i * 0.18);
        osc.stop(t + i * 0.18 + 0.17);
      });
    } catch (e) {
      /* no audio device: the notification and the board still show it */
    }
  }

  function describe(ev) {
    const words = ev.detail.text || ev.detail.minutes || ev.detail.press || "";
    const cat = ev.detail.category ? "［" + ev.detail.category + "］" : ""; // what was found: 脅迫, 暴言...
    return (KIND[ev.kind] || ev.kind) + cat + (words ? ": " + words : "");
  }

  function notify(entry, ev) {
    board.dataset.alerted = String(Number(board.dataset.alerted || "0") + 1);
    beep();
    if ("Notification" in window && Notification.permission === "granted") {
      const c = entry.call;
      new Notification(d.notifyTitle, {
        body: [c.site, c.agent, c.caller].filter(Boolean).join(" / ") + "\n" + describe(ev),
        tag: "akashi-live-" + ev.id,
      });
    }
  }

  function fill(entry) {
    const c = entry.call;
    const el = entry.el;
    el.querySelector(".live-site").textContent = c.site || "—";
    el.querySelector(".live-agent").textContent = c.agent || "—";
    el.querySelector(".live-caller").textContent = c.caller || "—";
  }

  function upsert(call) {
    let entry = calls.get(call.call_id);
    if (!entry) {
      const el = tpl.content.firstElementChild.cloneNode(true);
      el.dataset.call = call.call_id;
      entry = { call, el, seen: new Set() };
      calls.set(call.call_id, entry);
      list.appendChild(el);
    }
    entry.call = Object.assign(entry.call, call);
    fill(entry);
    return entry;
  }

  function eventItem(ev) {
    const li = document.createElement("li");
    li.className = "live-ev live-" + ev.kind;
    const time = document.createElement("time");
    time.dateTime = ev.at;
    time.textContent = clock(ev.at);
    const what = document.createElement("span");
    what.textContent = describe(ev);
    li.append(time, " ", what);
    if (ev.detail.category) li.dataset.category = ev.detail.category;
    if (ev.detail.said_at) li.dataset.said = ev.detail.said_at; // when the words ended (UTC epoch s)
    if (ev.detail.severity === "severe") {
      li.classList.add("severe");
      const sev = document.createElement("span");
      sev.className = "chip";
      sev.textContent = d.severe;
      li.append(" ", sev);
    }
    return li;
  }

  function addEvent(entry, ev, fresh) {
    if (!SHOWN.has(ev.kind) || entry.seen.has(ev.id)) return;
    entry.seen.add(ev.id);
    const li = eventItem(ev);
    if (ev.detail.ask === "1") {
      entry.el.querySelector(".live-warn").classList.add("ask");
      const ask = document.createElement("strong");
      ask.className = "live-askmsg";
      ask.textContent = d.ask;
      li.append(" ", ask);
    }
    entry.el.querySelector(".live-events").appendChild(li);
    if (fresh && ALERT.has(ev.kind)) notify(entry, ev);
  }

  // A flag that came after its call ended (live recognition runs behind the call): listed apart, newest
  // first, with who and where; the call does not come back among the calls in progress.
  const lateBox = document.getElementById("live-late");
  const lateList = document.getElementById("live-late-list");
  const lateSeen = new Set();
  const LATE_SHOWN = 20;
  function late(ev) {
    if (lateSeen.has(ev.id)) return;
    lateSeen.add(ev.id);
    const c = ev.call || {};
    const li = eventItem(ev);
    const who = document.createElement("span");
    who.className = "live-who";
    who.textContent = [c.site, c.agent, c.caller].filter(Boolean).join(" / ");
    li.querySelector("time").after(" ", who);
    lateList.prepend(li);
    while (lateList.children.length > LATE_SHOWN) lateList.lastElementChild.remove();
    lateBox.hidden = false;
    notify({ call: c }, ev);
  }

  function remove(callId) {
    const entry = calls.get(callId);
    if (entry) {
      const ctl = listening.get(callId);
      if (ctl) ctl.abort();
      entry.el.remove();
      calls.delete(callId);
    }
  }

  function refresh() {
    empty.hidden = calls.size > 0;
    const now = Date.now();
    for (const entry of calls.values()) {
      const since = Date.parse(entry.call.answered_at || entry.call.started_at);
      entry.el.querySelector(".live-dur").textContent = duration((now - since) / 1000);
    }
  }

  function snapshot(data) {
    const live = new Set(data.calls.map((c) => c.call_id));
    for (const id of [...calls.keys()]) if (!live.has(id)) remove(id);
    for (const c of data.calls) {
      const entry = upsert(c);
      for (const ev of c.events) addEvent(entry, ev, false);
    }
    refresh();
  }

  function onLive(ev) {
    if (ev.kind === "ended") {
      remove(ev.call_id);
    } else if (ev.detail.after_end === "1") {
      remove(ev.call_id);
      late(ev);
    } else {
      const entry = ev.call ? upsert(ev.call) : calls.get(ev.call_id);
      if (entry) addEvent(entry, ev, true);
    }
    refresh();
  }

  async function command(callId, action, msg) {
    const body = new URLSearchParams({ call_id: callId, action });
    msg.textContent = "";
    try {
      const r = await fetch(d.command, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": d.csrf, Accept: "application/json" },
        body,
      });
      msg.textContent = r.ok ? d.sent : d.failed + " (" + r.status + ")";
    } catch (e) {
      msg.textContent = d.failed;
    }
  }

  // Listen in: 16-bit stereo PCM at 8 kHz fetched as it is recorded, played through WebAudio buffers.
  const listening = new Map(); // call_id -> AbortController
  async function listen(callId, btn, msg) {
    const ctl = new AbortController();
    listening.set(callId, ctl);
    btn.textContent = btn.dataset.on;
    btn.classList.add("on");
    audio = audio || new AudioContext();
    audio.resume();
    let next = 0;
    let rest = new Uint8Array(0);
    try {
      const r = await fetch(d.listen + "?call_id=" + encodeURIComponent(callId), {
        credentials: "same-origin",
        signal: ctl.signal,
      });
      if (!r.ok) throw new Error(String(r.status));
      const reader = r.body.getReader();
      board.dataset.listening = "1";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const bytes = new Uint8Array(rest.length + value.length);
        bytes.set(rest);
        bytes.set(value, rest.length);
        const frames = Math.floor(bytes.length / 4);
        rest = bytes.slice(frames * 4);
        if (!frames) continue;
        const view = new DataView(bytes.buffer, 0, frames * 4);
        const buf = audio.createBuffer(2, frames, 8000);
        const left = buf.getChannelData(0);
        const right = buf.getChannelData(1);
        for (let i = 0; i < frames; i++) {
          left[i] = view.getInt16(i * 4, true) / 32768;
          right[i] = view.getInt16(i * 4 + 2, true) / 32768;
        }
        const src = audio.createBufferSource();
        src.buffer = buf;
        src.connect(audio.destination);
        next = Math.max(next, audio.currentTime + 0.3);
        src.start(next);
        next += buf.duration;
        board.dataset.heard = String(Number(board.dataset.heard || "0") + frames);
      }
    } catch (e) {
      if (!ctl.signal.aborted) msg.textContent = btn.dataset.failed;
    }
    listening.delete(callId);
    btn.textContent = btn.dataset.off;
    btn.classList.remove("on");
  }

  list.addEventListener("click", (e) => {
    const btn = e.target.closest("button");
    const card = e.target.closest(".live-call");
    if (!btn || !card) return;
    const msg = card.querySelector(".live-msg");
    if (btn.classList.contains("live-warn")) {
      btn.classList.remove("ask");
      command(card.dataset.call, "warn", msg);
    } else if (btn.classList.contains("live-listen")) {
      const ctl = listening.get(card.dataset.call);
      if (ctl) ctl.abort();
      else listen(card.dataset.call, btn, msg);
    } else if (btn.classList.contains("live-end") && window.confirm(d.confirmEnd)) {
      command(card.dataset.call, "end", msg);
    }
  });

  alertsBtn.addEventListener("click", async () => {
    // Asked on a press, never on load; the press also lets the page play its chime.
    audio = audio || new AudioContext();
    audio.resume();
    let ok = false;
    if ("Notification" in window) ok = (await Notification.requestPermission()) === "granted";
    alertsBtn.textContent = ok ? alertsBtn.dataset.on : alertsBtn.dataset.denied;
    alertsBtn.classList.toggle("on", ok);
  });

  const source = new EventSource(d.stream);
  source.addEventListener("snapshot", (e) => snapshot(JSON.parse(e.data)));
  source.addEventListener("live", (e) => onLive(JSON.parse(e.data)));
  source.addEventListener("open", () => {
    state.textContent = state.dataset.on;
    board.dataset.connected = "1";
  });
  source.addEventListener("error", () => {
    state.textContent = state.dataset.off;
    board.dataset.connected = "0";
  });
  setInterval(refresh, 1000);
})();
