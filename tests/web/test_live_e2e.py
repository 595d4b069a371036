"""Live protection end to end (issue 14): a generated abusive call streamed in real time through a real
``akashi serve`` (web, telephony, the transcriber child, the database-backed board) reaches a manager's
live board in real Chromium while the call is in progress (the board drops a call's card when it ends,
so a flag shown is a flag in time to act on); the route's ``warning = "auto"`` plays the warning,
which the stored right channel holds; a polite complaint call plays nothing and shows no severe flag.

SIPp does the signalling of the caller and of the operator; the caller's media is a socket of this
test sending the TTS customer channel in real time once the call is bridged (the operator is silent).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import Call
from tests.cli.test_serve import wait_http
from tests.conftest import make_home, require_binary
from tests.ports import free_port, free_udp_port
from tests.telephony import scenarios
from tests.telephony.conftest import sip_toml
from tests.telephony.peers import RtpPeer, Sipp, bursts, write_wav16
from tests.telephony.test_calls import dominant_hz
from tests.telephony.test_livetap_sip import customer_speech
from tests.telephony.test_protect_calls import WARNING_HZ, route_lines
from tests.web.conftest import seed
from tests.web.test_pages_browser import Watched

pytestmark = [pytest.mark.browser, pytest.mark.sip, pytest.mark.asr, pytest.mark.slow]

#: Utterance end (as the relay saw it) → the flag shown on the board in Chromium is printed, not asserted
#: (no timing assertions in tests): 2.0-2.1 s at load average 2-5 on the shared 2-core VM, 3.1-3.9 s at
#: 8-12, up to 6.3 s beside two other test processes (hangover 0.5 s, one recognition batch, the node's
#: 0.5 s exchange, the stream's 0.5 s poll). bench/live.py measures it against the issue's 5 s.
CALLER = "0901234567"  # the SIPp caller's number (tests/telephony/scenarios.py)

#: what the board adds to the page, stamped with the browser's clock (set before the page's own script)
SEEN_HOOK = """
window.__seen = [];
document.addEventListener("DOMContentLoaded", () => {
  new MutationObserver((muts) => {
    for (const m of muts) for (const n of m.addedNodes) {
      if (!(n instanceof HTMLElement)) continue;
      const card = n.closest(".live-call");
      if (n.matches(".live-call")) window.__seen.push({what: "card", call: n.dataset.call, t: Date.now()});
      else if (n.matches(".live-ev")) window.__seen.push({
        what: n.className, call: card ? card.dataset.call : "", text: n.textContent,
        category: n.dataset.category || "", said: Number(n.dataset.said || 0), t: Date.now()});
    }
  }).observe(document.body, {childList: true, subtree: true});
});
"""


@dataclass
class Customer(RtpPeer):
    """The caller's media socket; it learns Akashi's media address from the notice it hears."""

    akashi: tuple[str, int] | None = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.akashi = addr
        super().datagram_received(data, addr)


def _bridged(spool: Path, seen: set[str]) -> int:
    """How many calls have been bridged so far (a stored call's spool folder goes away: ``seen`` keeps it)."""
    for meta in spool.glob("*/meta.json"):
        try:
            if json.loads(meta.read_text()).get("bridged_at"):
                seen.add(meta.parent.name)
        except (OSError, ValueError):
            continue
    return len(seen)


async def _until(cond: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, what
        await asyncio.sleep(0.05)


async def _calls(tmp: Path, sip_port: int, opx: Sipp, home: Path, speeches: list[np.ndarray]) -> None:
    """The operator (answers both calls), then each caller in turn speaking its speech once bridged."""
    sipp = require_binary("sipp")
    loop = asyncio.get_running_loop()
    spool, bridged = home / "spool" / "calls", set[str]()
    _t, op = await loop.create_datagram_endpoint(RtpPeer, local_addr=("127.0.0.1", 0))
    await opx.start("-key", "rtpport", str(op.port), "-m", str(len(speeches)), limit_s=150)
    try:
        for i, speech in enumerate(speeches):
            _t2, cust = await loop.create_datagram_endpoint(Customer, local_addr=("127.0.0.1", 0))
            # the abusive call stays up long enough for the warning to play after its last words
            talk_ms = int(len(speech) / 8) + (5000 if i == 0 else 2000)
            callx = Sipp(sipp, tmp, f"caller{i}", scenarios.caller(talk_ms=talk_ms))
            await callx.start(
                f"127.0.0.1:{sip_port}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1",
                limit_s=90,
            )  # fmt: skip
            try:
                await _until(
                    lambda i=i, cust=cust: _bridged(spool, bridged) > i and cust.akashi,
                    30,
                    f"call {i} not bridged",
                )
                assert cust.akashi is not None
                await cust.send_signal(speech, cust.akashi)
                assert await callx.wait(60) == 0, callx.log()
            finally:
                callx.kill()
                cust.close()
        assert await opx.wait(30) == 0, opx.log()
    finally:
        opx.kill()
        op.close()


def _speech(name: str) -> np.ndarray:
    """The customer channel of a scripted call, from its first words (the operator's greeting is silence
    on it) to a second after its last."""
    pcm = customer_speech(name)
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 1000)
    return pcm[max(0, loud[0] - 2400) : loud[-1] + 8000]


def _stored_right(ak: Akashi, row: Call) -> np.ndarray:
    """The stored call's right channel (what the caller heard), decoded."""
    from akashi.codecs import g711

    assert row.media_object_id
    data = b"".join(ak.store.iter_plaintext(row.media_object_id))
    fmt = int.from_bytes(data[20:22], "little")
    i = data.index(b"data")
    n = int.from_bytes(data[i + 4 : i + 8], "little")
    frames = np.frombuffer(data[i + 8 : i + 8 + n], dtype=np.uint8).reshape(-1, 2)
    return g711.decode(frames[:, 1].tobytes(), "PCMU" if fmt == 7 else "PCMA")


def _warning_s(right: np.ndarray) -> float:
    """Seconds of the warning tone in a channel (0.25 s blocks, loud and at the warning's pitch)."""
    block = 2000
    n = 0
    for i in range(0, len(right) - block, block):
        x = right[i : i + block]
        if np.abs(x.astype(np.int32)).mean() > 2000 and abs(dominant_hz(x) - WARNING_HZ) < 20:
            n += 1
    return n * block / 8000


def test_abusive_call_alerts_the_board_and_auto_warns_polite_call_does_not(
    tmp_path: Path, sqlite_url: str, browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import expect

    monkeypatch.delenv("AKASHI_HOME", raising=False)
    require_binary("sipp")
    # two abusive scripts back to back (four utterances: 暴言, 土下座の要求, 脅迫, SNS・ネット晒し), so the
    # auto policy's two severe flags do not hang on one utterance recognised right
    abuse = np.concatenate([_speech("dogeza"), _speech("threat_sns")])
    polite = _speech("polite_refund")
    notice = write_wav16(tmp_path / "notice.wav", bursts(1.0, [0.0], 1000.0, burst_s=1.0))
    opx = Sipp(require_binary("sipp"), tmp_path, "op", scenarios.operator(hangup="caller"))
    sip_port = free_udp_port()
    route = route_lines(tmp_path, 'warning = "auto"\nlive = true\n')
    home = make_home(tmp_path / "home", sqlite_url,
                     extra_toml=sip_toml(sip_port, [opx.port], notice=notice, route_extra=route,
                                         rtp_timeout_s=120))  # fmt: skip
    with Akashi.open(home) as ak:
        seed(ak, tmp_path)  # boss_tokyo: a manager of the route's site
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKASHI_")}
    env |= {"AKASHI_WEB__LISTEN": f"127.0.0.1:{port}", "AKASHI_JOBS__POLL_SECONDS": "0.5"}
    log = tmp_path / "serve.log"
    proc = subprocess.Popen([sys.executable, "-m", "akashi.cli.main", "--home", str(home), "serve"],
                            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    worker: threading.Thread | None = None
    failed: list[BaseException] = []
    try:
        wait_http(f"{base}/healthz", proc)
        sock = home / "run" / "live.sock"
        end = time.monotonic() + 120  # the transcriber child loads the model, then listens
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < end, log.read_text()[-3000:]
            time.sleep(0.2)
        w = Watched(browser, 390)
        w.ctx.add_init_script(SEEN_HOOK)
        w.login(base, "boss_tokyo")
        w.page.goto(f"{base}/live")
        expect(w.page.locator("#live-board")).to_have_attribute("data-connected", "1", timeout=10_000)

        def run() -> None:
            try:
                asyncio.run(_calls(tmp_path, sip_port, opx, home, [abuse, polite]))
            except BaseException as exc:
                failed.append(exc)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(timeout=150)
        assert not worker.is_alive(), "the calls did not finish"
        assert not failed, failed
        seen: list[dict[str, Any]] = w.page.evaluate("window.__seen")
        cards = [e["call"] for e in seen if e["what"] == "card"]
        assert len(cards) == 2, seen
        bad, good = cards
        severe = [e for e in seen if e["call"] == bad and "live-flag" in e["what"] and "severe" in e["what"]]
        assert severe, seen
        lat = [e["t"] / 1000 - e["said"] for e in severe]
        print(f"utterance end → board (Chromium): {', '.join(f'{x:.2f}' for x in lat)} s; {severe}")
        assert all(e["category"] for e in severe), severe  # 暴言 / 土下座の要求 shown beside the words
        assert any(e["call"] == bad and "live-warning" in e["what"] for e in seen), seen
        assert not [e for e in seen if e["call"] == good and "severe" in e["what"]], seen
        assert not [e for e in seen if e["call"] == good and "live-warning" in e["what"]], seen
        assert not w.problems, w.problems

        # both calls stored: the abusive one's right channel holds the warning, the polite one's none
        with Akashi.open(home) as ak:
            rows: list[Call] = []
            end = time.monotonic() + 60
            while len(rows) < 2 or not all(r.media_object_id for r in rows):
                assert time.monotonic() < end, "the calls were not stored"
                time.sleep(0.3)
                with session_scope(ak.engine) as s:
                    rows = list(s.scalars(select(Call).where(Call.caller == CALLER).order_by(Call.id)))
                    s.expunge_all()
            warned, calm = (_warning_s(_stored_right(ak, r)) for r in rows)
        assert warned >= 1.0, warned  # the 1.5 s warning tone
        assert calm == 0, calm
    finally:
        opx.kill()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-4000:]
