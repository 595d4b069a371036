"""What the telephony benchmarks share: Akashi's home and process, SIPp's load, the probe call, figures.

``bench/telephony.py``, ``bench/live.py``, ``bench/edge.py`` and ``bench/admission.py`` all hold SIPp
calls (G.711 RTP both ways, caller -> Akashi -> operator) through an Akashi started on a home of its own,
measure the relay's delay with one probe call whose media is ours, and read Akashi's counters on SIGUSR1.
Those pieces live here, once; each bench keeps what it alone measures and prints.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.telephony import scenarios  # noqa: E402

HZ = os.sysconf("SC_CLK_TCK")
RTP_LO, RTP_HI = 20000, 29999
#: the number the load's callers dial, and the probe call's (a route of its own in :func:`home_toml`)
CALLED, PROBE_CALLED = "0312345678", "0999000000"
#: admission control by load off (``[sip]`` keys), so that Akashi takes every offered call
ADMISSION_OFF = "admission_max_loop_lag_ms = 0\nadmission_max_cpu = 0\n"


# -- the machine ------------------------------------------------------------------------------------
def free_port() -> int:
    """A free UDP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and every process under it (media workers, storing workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += cpu_s(p)
        except (FileNotFoundError, ProcessLookupError):
            if p == pid:
                raise
            continue
        todo += children.get(p, [])
    return total


def self_cpu_s() -> float:
    """CPU seconds of this process (all its threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def ffmpeg_copy(url: str, pattern: Path) -> list[str]:
    """The ``ffmpeg -c copy`` the camera benches run beside Akashi: RTSP over TCP into 4-second MP4 segments."""
    return [
        "ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-timeout", "5000000", "-i", url,
        "-c", "copy", "-f", "segment", "-segment_time", "4", "-reset_timestamps", "1", "-segment_format", "mp4",
        str(pattern),
    ]  # fmt: skip


def udp_drops(lo: int, hi: int) -> int:
    """Sum of the kernel's drop counters of UDP sockets bound to ports lo..hi."""
    total = 0
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        parts = line.split()
        port = int(parts[1].split(":")[1], 16)
        if lo <= port <= hi:
            total += int(parts[-1])
    return total


def child_pid(pid: int) -> int:
    """The process under coreutils ``timeout`` (its only child)."""
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pid
    return int(kids[0]) if kids else pid


def stop(p: subprocess.Popen[bytes]) -> None:
    """Stop a process group."""
    if p.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
    p.wait(10)


def need(*tools: str) -> None:
    """End the bench with a message when one of ``tools`` is not on PATH."""
    for tool in tools:
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed")


def machine(name: str = "") -> str:
    """What ran the bench, for the record: ``name`` when given, else the platform and its CPUs."""
    return name or f"{platform.platform()}, {os.cpu_count()} CPUs"


def write_json(path: Path, data: Any, indent: int = 2) -> None:
    """Write a bench's figures (its folder made when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=indent, ensure_ascii=False))


def p50_ms(delays: list[float]) -> float | None:
    """The median of delays in seconds, in ms (3 decimals); None without delays."""
    return round(1000 * statistics.median(delays), 3) if delays else None


def p99_ms(delays: list[float]) -> float | None:
    """The 99th percentile of delays in seconds, in ms (3 decimals); None without delays."""
    if not delays:
        return None
    d = sorted(delays)
    return round(1000 * d[int(0.99 * (len(d) - 1))], 3)


def git(*args: str) -> str:
    """Run git in the repository; its output without the trailing newline."""
    done = subprocess.run(
        ["git", "-C", str(ROOT), *args], check=False, capture_output=True, text=True, timeout=120
    )
    if done.returncode:
        raise SystemExit(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


# -- audio and SIPp ---------------------------------------------------------------------------------
def sine(path: Path, secs: str, hz: str, *encoding: str) -> Path:
    """``secs`` of a ``hz`` sine, 8 kHz mono, written by sox with ``encoding`` (e.g. ``-e u-law``)."""
    sox = ["sox", "-n", "-r", "8000", "-c", "1", *encoding, str(path), "synth", secs, "sine", hz]
    subprocess.run(["timeout", "30", *sox], check=True)
    return path


def tones(work: Path) -> tuple[Path, Path]:
    """The calls' looped talk (3 s of 440 Hz, u-law) and the notice (0.5 s of 1 kHz, PCM16)."""
    return (
        sine(work / "talk.wav", "3", "440", "-e", "u-law"),
        sine(work / "notice.wav", "0.5", "1000", "-b", "16"),
    )


def with_rtp(xml: str, after: str, wav: Path) -> str:
    """Start SIPp's looped RTP stream after the element ``after``."""
    return xml.replace(after, after + f'\n  <nop><action><exec rtp_stream="{wav},-1,0"/></action></nop>', 1)


def operator_xml(wav: Path) -> str:
    """The load's operator (SIPp UAS): answers at once, plays ``wav`` looped, waits for the caller's BYE."""
    return with_rtp(
        scenarios.operator(hangup="caller", ring_ms=0).replace("[rtpport]", "[media_port]"),
        '<recv request="ACK" crlf="true"/>',
        wav,
    )


def caller_xml(wav: Path, talk_ms: int) -> str:
    """The load's caller (SIPp UAC): plays ``wav`` looped for ``talk_ms``, then hangs up."""
    return with_rtp(
        scenarios.caller(talk_ms=talk_ms).replace("[rtpport]", "[media_port]"), scenarios.ACK.rstrip(), wav
    )


def write_load(work: Path, wav: Path, talk_ms: int) -> None:
    """The load's scenarios, op.xml and caller.xml in ``work``, both playing ``wav``."""
    (work / "op.xml").write_text(operator_xml(wav))
    (work / "caller.xml").write_text(caller_xml(wav, talk_ms))


def sipp(args: list[str], log: Path, limit: int) -> subprocess.Popen[bytes]:
    """SIPp under coreutils timeout."""
    return subprocess.Popen(
        ["timeout", "-s", "KILL", str(limit), "sipp", "-nostdin", "-i", "127.0.0.1", *args],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def operators(work: Path, port: int, calls: int, limit: int) -> subprocess.Popen[bytes]:
    """SIPp answering ``calls`` calls on ``port`` with ``work``/op.xml (log op.log)."""
    args = ["-sf", str(work / "op.xml"), "-p", str(port), "-mp", str(free_port()), "-m", str(calls)]
    return sipp(args, work / "op.log", limit)


def callers(
    xml: Path, target: str, calls: int, log: Path, limit: int, rate: int = 50, period_ms: int = 1000
) -> subprocess.Popen[bytes]:
    """SIPp placing ``calls`` calls to :data:`CALLED` at ``target``, ``rate`` new calls per ``period_ms``,
    all held at once."""
    args = ["-sf", str(xml), target, "-s", CALLED, "-p", str(free_port()), "-mp", str(free_port())]
    args += ["-m", str(calls), "-l", str(calls), "-r", str(rate), "-rp", str(period_ms)]
    return sipp(args, log, limit)


# -- the probe call ---------------------------------------------------------------------------------
class Probe:
    """One extra call whose media is ours: send time in the payload, receive time on arrival."""

    def __init__(self) -> None:
        self.cust = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.cust.bind(("127.0.0.1", 0))
        self.op = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.op.bind(("127.0.0.1", 0))
        self.op.settimeout(0.5)
        self.cust.settimeout(0.5)
        self.delays: list[float] = []
        self.sent = 0
        self.got = 0
        self.stop = threading.Event()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.thread: threading.Thread | None = None

    def call(
        self, work: Path, target: str, op_port: int, talk_ms: int, limit: int, called: str = PROBE_CALLED
    ) -> None:
        """Place the probe call to ``called`` at ``target`` and start timing its media: the call's own
        operator is a second SIPp UAS on ``op_port`` whose SDP names our socket (as the caller's does)."""
        (work / "probe_caller.xml").write_text(scenarios.caller(talk_ms=talk_ms))
        (work / "probe_op.xml").write_text(scenarios.operator(hangup="caller", ring_ms=0))
        op_args = ["-sf", str(work / "probe_op.xml"), "-p", str(op_port), "-m", "1"]
        op_args += ["-key", "rtpport", str(self.op.getsockname()[1])]
        self.procs.append(sipp(op_args, work / "probe_op.log", limit))
        time.sleep(0.3)
        args = ["-sf", str(work / "probe_caller.xml"), target, "-s", called, "-p", str(free_port())]
        args += ["-m", "1", "-key", "rtpport", str(self.cust.getsockname()[1])]
        self.procs.append(sipp(args, work / "probe.log", limit))
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        """Start the figures again (the call and its timing go on)."""
        self.delays = []
        self.sent = self.got = 0

    def end(self) -> None:
        """Stop sending, then the probe call's SIPp (again: nothing more happens)."""
        self.stop.set()
        if self.thread is not None:
            self.thread.join(3)
        for p in self.procs:
            stop(p)

    def run(self) -> None:
        """Learn Akashi's port from the notice, then send 50 packets/s and time their relay."""
        try:
            _, akashi_a = self.cust.recvfrom(2048)
        except TimeoutError:
            return
        rx = threading.Thread(target=self._receive, daemon=True)
        rx.start()
        seq = 0
        start = time.monotonic()
        while not self.stop.is_set():
            hdr = (
                bytes([0x80, 0])
                + (seq & 0xFFFF).to_bytes(2, "big")
                + (seq * 160).to_bytes(4, "big")
                + b"PRBE"
            )
            self.cust.sendto(hdr + time.monotonic().hex().encode().ljust(160, b"\xff")[:160], akashi_a)
            self.sent += 1
            seq += 1
            delay = start + seq * 0.02 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        rx.join(2)

    def _receive(self) -> None:
        while not self.stop.is_set():
            try:
                data, _ = self.op.recvfrom(2048)
            except TimeoutError:
                continue
            if data[8:12] == b"PRBE":
                t = float.fromhex(data[12:].split(b"\xff")[0].decode())
                self.delays.append(time.monotonic() - t)
                self.got += 1


# -- Akashi -----------------------------------------------------------------------------------------
def home_toml(
    sip_port: int,
    op_port: int,
    probe_op_port: int,
    notice: Path,
    *,
    called: str = "*",
    probe_called: str = PROBE_CALLED,
    sip_extra: str = "",
    agent: bool = True,
) -> str:
    """The benchmarks' Akashi home: a probe route, the load route and the automatic notice."""
    agents = '\n[[agents]]\nname = "bench"\nsip_user = "201"\n' if agent else ""
    return f"""
[sip]
enabled = true
listen = "127.0.0.1:{sip_port}"
public_address = "127.0.0.1"
rtp_ports = "{RTP_LO}-{RTP_HI}"
rtp_timeout_s = 120
# every call of the load comes from one address (SIPp's): the per-source limit (1,000 by default)
# would refuse the probe call and anything offered above it
max_calls = 2400
max_calls_per_source = 2400
{sip_extra}
[[sip.routes]]
match = "{probe_called}"
ring = ["sip:202@127.0.0.1:{probe_op_port}"]

[[sip.routes]]
match = "{called}"
ring = ["sip:201@127.0.0.1:{op_port}"]
ring_timeout_s = 30

[announcements.default]
mode = "automatic"
audio = "{notice}"
{agents}"""


@dataclass(frozen=True)
class Code:
    """Which ``akashi`` package a bench runs: the working tree's or a commit's, checked out beside it.

    Akashi runs with this venv's Python and ``PYTHONPATH=<src>``, which goes before the venv's editable
    install, so the commit's own package (config schema, migrations, call control) is the one imported.
    """

    label: str
    src: Path
    commit: str
    sip_extra: str = ""

    @classmethod
    def working_tree(cls) -> Code:
        """The code as it is in this checkout (uncommitted changes included)."""
        dirty = "+changes" if git("status", "--porcelain", "--", "src") else ""
        return cls("after", ROOT / "src", git("rev-parse", "--short=12", "HEAD") + dirty)

    def env(self) -> dict[str, str]:
        """The environment under which this code's akashi is the one imported."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.src), env.get("PYTHONPATH", "")) if p)
        return env

    def python(self, script: str, *args: str, cwd: Path, timeout: float = 300) -> str:
        """Run ``script`` with this code's package; its standard output."""
        done = subprocess.run(
            [sys.executable, "-c", script, *args],
            check=False,
            env=self.env(),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode:
            raise SystemExit(f"{self.label} ({self.commit}): {done.stderr.strip()[-2000:]}")
        return done.stdout

    def init_home(self, home: Path, extra_toml: str) -> None:
        """``init_home`` of this code: its own config check, keys and database migrations."""
        home.parent.mkdir(parents=True, exist_ok=True)
        self.python(
            "import sys; from pathlib import Path; from akashi.setup import init_home; "
            "init_home(Path(sys.argv[1]), extra_toml=sys.argv[2])",
            str(home),
            extra_toml,
            cwd=home.parent,
        )


class Serve:
    """An Akashi process under coreutils ``timeout`` in a process group of its own (its log
    ``work``/akashi.log), started once it has written ``ready``; its counters on SIGUSR1 (in ``stats``)."""

    def __init__(
        self,
        cmd: list[str],
        work: Path,
        ready: Path,
        stats: Path,
        limit_s: int,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.stats_file = stats
        self.proc = subprocess.Popen(
            ["timeout", "-s", "KILL", str(limit_s), *cmd],
            stdout=(work / "akashi.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            cwd=cwd,
        )
        while not ready.exists():
            if self.proc.poll() is not None:
                raise SystemExit((work / "akashi.log").read_text()[-3000:])
            time.sleep(0.1)
        self.pid = child_pid(self.proc.pid)

    @classmethod
    def sip(cls, work: Path, toml: str, limit_s: int, code: Code | None = None) -> Serve:
        """``akashi sip serve`` of a new home ``work``/home made with ``toml``: by ``code`` (its package
        in a process of its own, which also runs the service), or by the installed package here."""
        home = work / "home"
        if code is None:
            from akashi.setup import init_home

            init_home(home, extra_toml=toml)
        else:
            code.init_home(home, toml)
        ready, stats = work / "ready.json", work / "stats.json"
        cmd = [sys.executable, "-m", "akashi.cli.main", "--home", str(home), "sip", "serve"]
        cmd += ["--ready-file", str(ready), "--stats-file", str(stats)]
        env, cwd = (code.env(), work) if code is not None else (None, None)
        return cls(cmd, work, ready, stats, limit_s, env, cwd)

    def stats(self) -> dict[str, int]:
        """Akashi's counters (``TelephonyService.stats``), or {} when it does not answer in 10 s (a
        saturated loop answers late); ProcessLookupError when Akashi is gone."""
        self.stats_file.unlink(missing_ok=True)
        os.kill(self.pid, signal.SIGUSR1)
        for _ in range(200):
            if self.stats_file.exists():
                with contextlib.suppress(ValueError):
                    return dict(json.loads(self.stats_file.read_text()))
            time.sleep(0.05)
        return {}

    def wait_for(self, done: Callable[[dict[str, int]], bool], deadline: float, every: float = 0.2) -> bool:
        """Read the counters every ``every`` s until ``done`` holds (True) or ``time.monotonic()`` passes
        ``deadline`` (False)."""
        while time.monotonic() < deadline:
            if done(self.stats()):
                return True
            time.sleep(every)
        return False

    def bridged(self, n: int, deadline: float) -> bool:
        """Wait until ``n`` calls are bridged (see :meth:`wait_for`)."""
        return self.wait_for(lambda s: s.get("bridged_calls", 0) >= n, deadline)

    def stop(self) -> None:
        """Kill Akashi's process group."""
        stop(self.proc)
