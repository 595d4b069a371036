"""Password guessing and extension enumeration (issue 10, item 2) with the scanner attackers run.

``svcrack`` (sipvicious) guesses agent 201's secret from a dictionary that holds it: the agent/source
pair is locked after ``sip.auth_lockout_after`` failures, before the guess is reached, and the lock is
logged once and audited. ``svwar -m INVITE`` cannot tell existing agents from made-up extensions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import pytest

from akashi.telephony.sip.message import Request
from tests.conftest import require_binary
from tests.security.agent_phone import SECRET_201, Trunk, trunk_and_phone, trunk_toml
from tests.security.test_toll_fraud import placed_first, refusals
from tests.telephony.conftest import Start, b2bua  # noqa: F401 - fixture

pytestmark = [pytest.mark.sip]


#: svcrack INVITEs the agent's own extension (To: 201): the trunk here lets that number out, so that a
#: guessed secret would show as an INVITE on the trunk
def dial_201(port: int) -> str:
    """The trunk on ``port``, with 201 allowed by its dial plan."""
    return trunk_toml(port, 'dial_allow = ["201"]')


WRONG = ["1234", "password", "201", "Tq8s-201-ZkP4vX", "akashi", "0000", "qwerty123456", "letmein"]


def short_retransmissions(monkeypatch: pytest.MonkeyPatch) -> None:
    """T1 0.1 s: Akashi resends its unacknowledged final answers for 6.4 s instead of 32 s.

    svcrack never ACKs them, and every resent answer restarts its ``--maximumtime`` wait: with RFC 3261's
    32 s the run lasts that long past its last guess.
    """
    monkeypatch.setattr("akashi.telephony.sip.transport.T1", 0.1)
    monkeypatch.setattr("akashi.telephony.sip.transport.TIMER_B", 6.4)


def crack_args(words: Path, port: int) -> list[str]:
    """svcrack's arguments: agent 201, the dictionary, INVITE (Akashi answers REGISTER 405)."""
    return ["-u", "201", "-d", str(words), "-m", "INVITE", "--maximumtime=3", "-p", str(port), "127.0.0.1"]


async def _start_tool(args: tuple[str, ...], timeout: float) -> asyncio.subprocess.Process:
    """A sipvicious tool under coreutils timeout, its stdout and stderr in one pipe."""
    return await asyncio.create_subprocess_exec(
        "timeout",
        str(int(timeout)),
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def run_tool(*args: str, timeout: float = 90) -> str:
    """Run a sipvicious tool (under coreutils timeout as well); its stdout and stderr."""
    proc = await _start_tool(args, timeout)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout + 10)
    return out.decode(errors="replace")


async def run_until_call_out(trunk: Trunk, *args: str, timeout: float = 60) -> Request:
    """Run svcrack until the trunk sees its call out (then stop it: that is all the control needs)."""
    proc = await _start_tool(args, timeout)
    reached = True
    try:
        await trunk.next_invite(timeout)
    except TimeoutError:
        reached = False  # coreutils timeout ends svcrack at the same time
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()  # SIGTERM: coreutils timeout passes it on to svcrack
        out, _ = await proc.communicate()
    assert reached, f"no call reached the trunk:\n{out.decode(errors='replace')}"
    return trunk.invites[0]


async def test_svcrack_is_locked_out_before_it_reaches_the_secret(
    b2bua: Start,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """svcrack with the secret 9th in its dictionary: locked after 5 failures, never finds it."""
    svcrack = require_binary("svcrack")
    short_retransmissions(monkeypatch)
    caplog.set_level(logging.WARNING, logger="akashi.telephony.outbound")
    words = tmp_path / "words.txt"
    words.write_text("\n".join([*WRONG, SECRET_201, "zzz"]) + "\n")
    # svcrack sends from 127.0.0.1; the agent's own phone is at 127.0.0.3
    async with trunk_and_phone("127.0.0.3") as (trunk, phone), trunk_and_phone() as (_t, attacker_host):
        svc = await b2bua([trunk.port], notice=None, extra=dial_201(trunk.port), agent_password=SECRET_201)
        port = svc.sip.local[1]
        out = await run_tool(svcrack, *crack_args(words, port))
        assert SECRET_201 not in out, out
        assert "The password for" not in out, out
        locks = [m for m in caplog.messages if "locked for" in m]
        assert len(locks) == 1 and "127.0.0.1" in locks[0] and "201" in locks[0], caplog.messages
        assert SECRET_201 not in caplog.text
        rows = await refusals(svc, 1)
        assert [(r["user"], r["reason"]) for r in rows] == [("sip:201", "locked")]
        # the lock holds for that address even with the right secret...
        locked = await attacker_host.call(("127.0.0.1", port))
        assert locked.status == 403 and "locked" in locked.header("Warning")
        # ...while the agent's own phone elsewhere still calls out, and that is the trunk's first INVITE
        await placed_first(svc, trunk, phone)


async def test_svcrack_reaches_the_secret_without_the_lock(b2bua: Start, tmp_path: Path) -> None:  # noqa: F811
    """The control: with the lock effectively off, the same svcrack run gets a call out (the attack is real)."""
    svcrack = require_binary("svcrack")
    words = tmp_path / "words.txt"
    words.write_text("\n".join([*WRONG, SECRET_201, "zzz"]) + "\n")
    async with trunk_and_phone("127.0.0.3") as (trunk, _phone):
        svc = await b2bua(
            [trunk.port],
            notice=None,
            extra=dial_201(trunk.port),
            agent_password=SECRET_201,
            sip_extra="auth_lockout_after = 50",
        )
        out_call = await run_until_call_out(trunk, svcrack, *crack_args(words, svc.sip.local[1]))
        assert out_call.uri.startswith("sip:201@"), out_call.uri


async def test_svwar_cannot_tell_agents_from_strangers(b2bua: Start) -> None:  # noqa: F811
    """svwar -m INVITE over 195-215 (agents 201 with a secret, 202 without) reports no extension."""
    svwar = require_binary("svwar")
    async with trunk_and_phone() as (trunk, phone):
        svc = await b2bua([trunk.port], notice=None, extra=trunk_toml(trunk.port), agent_password=SECRET_201)
        port = svc.sip.local[1]
        dest = ("127.0.0.1", port)
        # the same answer, byte for byte apart from the nonce and the echoed headers
        answers = [await phone.invite(dest, user=u, number=u) for u in ("201", "202", "299", "1000")]
        assert {(r.status, r.reason, tuple(sorted(h.name for h in r.headers))) for r in answers} == {
            (407, "Proxy Authentication Required", tuple(sorted(h.name for h in answers[0].headers)))
        }
        out = await run_tool(svwar, "-m", "INVITE", "-e", "195-215", "-p", str(port), "127.0.0.1")
        assert "authentication request for an unknown extension" in out, out
        forced = await run_tool(
            svwar, "-m", "INVITE", "-e", "195-215", "--force", "-p", str(port), "127.0.0.1"
        )
        for ext in ("201", "202"):
            assert f"'{ext}'" not in forced and f"| {ext} " not in forced, forced
        await placed_first(svc, trunk, phone)
