"""The messages between the SIP process and its media workers (sans-I/O: bytes in, messages out).

A frame is a 4-byte big-endian length, then a kind byte and the body. Control messages carry a JSON
body; :class:`Play` adds the encoded payloads after its JSON, and :class:`Tap` (one RTP packet a tapped
endpoint accepted, the hot one) is packed binary. :class:`Decoder` cuts a byte stream back into
messages and refuses a frame it cannot read with :class:`~akashi.errors.ProtocolError`.

The SIP process owns every endpoint's state and sends all of it in one :class:`State` whenever it
changes, so a restarted worker is brought back by sending every live endpoint's last
:class:`Open` and :class:`State` again.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from dataclasses import dataclass, field
from typing import Any, ClassVar

from akashi.errors import ProtocolError

_LEN = struct.Struct("!I")
_TAP = struct.Struct("!IdB")
#: where one SRTP stream stands: (SSRC, rollover counter, sequence number)
Mark = tuple[int, int, int]
#: the largest frame either side accepts (a Play of a few minutes of G.711 fits)
MAX_FRAME = 32 * 1024 * 1024


@dataclass(frozen=True)
class Open:
    """Bind ``port`` on ``host`` for endpoint ``ep`` (answered by :class:`Opened`)."""

    KIND: ClassVar[int] = 1
    ep: int
    host: str
    port: int
    v6: bool = False


@dataclass(frozen=True)
class State:
    """Everything the relay needs to know of one endpoint, as the SIP process has it now.

    ``generation`` goes up with each new SDP from the peer: the worker then forgets the SSRCs and
    the latched address (as :meth:`~akashi.telephony.media.RtpEndpoint.set_remote` does).
    """

    KIND: ClassVar[int] = 2
    ep: int
    generation: int
    remote: tuple[str, int] | None
    latched: bool
    signal_ip: str | None
    nat_ip: str | None
    payload_types: tuple[int, ...] | None
    event_pts: tuple[int, ...]
    forward: bool
    peer: int | None
    record_in: str | None
    record_out: str | None
    tap: bool
    event_tap: bool
    label: str
    # the keys (hex) of the SRTP sessions that check what arrives and protect what is sent: never in a repr
    srtp_rx: str | None = field(repr=False)
    srtp_tx: str | None = field(repr=False)
    # where each SRTP stream was at the worker's last report, (SSRC, rollover counter, sequence number):
    # a restarted worker's fresh sessions start there (see SrtpMarks)
    srtp_rx_at: tuple[Mark, ...] = ()
    srtp_tx_at: tuple[Mark, ...] = ()


@dataclass(frozen=True)
class Play:
    """Send ``payloads`` to endpoint ``ep`` as RTP (:class:`~akashi.telephony.media.NoticePlayer`)."""

    KIND: ClassVar[int] = 3
    ep: int
    play: int
    payload_type: int
    step: int
    ptime_ms: int
    repeat: bool
    payloads: tuple[bytes, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Stop:
    """Stop a :class:`Play` (the call ended, or a repeating tone is done)."""

    KIND: ClassVar[int] = 4
    play: int


@dataclass(frozen=True)
class Close:
    """Release endpoint ``ep``; its spool files are written out and closed when nothing else uses them."""

    KIND: ClassVar[int] = 5
    ep: int


@dataclass(frozen=True)
class Sync:
    """Answer with :class:`Synced` once every message sent before this one is carried out (the worker
    takes its messages in order): after it, the worker relays as the last :class:`State` says."""

    KIND: ClassVar[int] = 6
    token: int


@dataclass(frozen=True)
class Opened:
    """The answer to :class:`Open`: ``error`` says why the port could not be bound."""

    KIND: ClassVar[int] = 11
    ep: int
    error: str | None = None


@dataclass(frozen=True)
class EndpointStats:
    """What the SIP process reads of an endpoint: counters, and what changed of the latching and refusals.

    ``remote`` is sent once the worker latched (else None); ``refused``/``refused_from`` only when they
    changed since the last report (None: as before). A report is a short list on the wire: it goes out
    for every active endpoint twice a second.
    """

    rx: int
    tx: int
    last_rx: float
    latched: bool
    remote: tuple[str, int] | None = None
    refused: dict[str, int] | None = None
    refused_from: list[tuple[str, int]] | None = None


@dataclass(frozen=True)
class Stats:
    """The worker's endpoints that changed since the last report, and its load."""

    KIND: ClassVar[int] = 12
    eps: dict[int, EndpointStats]
    overloaded: bool
    lag_p95_ms: float
    cpu: float
    disk_error: str = ""  # why the spool disk refuses the worker's writes ("" while it takes them)


@dataclass(frozen=True)
class SrtpMarks:
    """Where the SRTP streams of endpoints stand: ``marks[ep] = (rx, tx)``, each (SSRC, rollover
    counter, sequence number) per stream, sent with each report for the endpoints that speak SRTP."""

    KIND: ClassVar[int] = 16
    marks: dict[int, tuple[tuple[Mark, ...], tuple[Mark, ...]]]


@dataclass(frozen=True)
class Tap:
    """One packet a tapped endpoint accepted (clear RTP) and its wall time."""

    KIND: ClassVar[int] = 13
    ep: int
    t: float
    event: bool  # for ``event_tap`` (a telephone-event packet) rather than ``tap``
    data: bytes


@dataclass(frozen=True)
class Played:
    """A :class:`Play` ended (all sent, or stopped)."""

    KIND: ClassVar[int] = 14
    play: int


@dataclass(frozen=True)
class Closed:
    """Endpoint ``ep`` is released; ``paths`` are the spool files closed with it, ``dropped`` their
    packets not recorded because the disk refused writes for minutes; ``last`` its final counters."""

    KIND: ClassVar[int] = 15
    ep: int
    paths: tuple[str, ...]
    dropped: dict[str, int]
    last: EndpointStats | None = None


@dataclass(frozen=True)
class Synced:
    """The answer to :class:`Sync`."""

    KIND: ClassVar[int] = 17
    token: int


Message = (
    Open | State | Play | Stop | Close | Sync | Opened | Stats | SrtpMarks | Tap | Played | Closed | Synced
)
_TYPES: dict[int, type[Any]] = {
    t.KIND: t
    for t in (Open, State, Play, Stop, Close, Sync, Opened, Stats, SrtpMarks, Tap, Played, Closed, Synced)
}


def encode(msg: Message) -> bytes:
    """One frame for ``msg``."""
    if isinstance(msg, Tap):
        body = _TAP.pack(msg.ep, msg.t, 1 if msg.event else 0) + msg.data
    elif isinstance(msg, Play):
        head = dataclasses.asdict(msg)
        blobs = head.pop("payloads")
        head["sizes"] = [len(b) for b in blobs]
        js = json.dumps(head).encode()
        body = _LEN.pack(len(js)) + js + b"".join(blobs)
    elif isinstance(msg, Closed):
        head = dataclasses.asdict(msg)
        head["last"] = None if msg.last is None else _stats_list(msg.last)
        body = json.dumps(head).encode()
    elif isinstance(msg, Stats):
        body = json.dumps(
            {
                "eps": {str(k): _stats_list(v) for k, v in msg.eps.items()},
                "overloaded": msg.overloaded,
                "lag_p95_ms": msg.lag_p95_ms,
                "cpu": msg.cpu,
                "disk_error": msg.disk_error,
            }
        ).encode()
    else:
        body = json.dumps(dataclasses.asdict(msg)).encode()
    return _LEN.pack(len(body) + 1) + bytes([msg.KIND]) + body


def decode(kind: int, body: bytes) -> Message:
    """The message of one frame's kind and body."""
    cls = _TYPES.get(kind)
    if cls is None:
        raise ProtocolError(f"メディアの通信で不明な種類 {kind}", f"media message of unknown kind {kind}")
    try:
        if cls is Tap:
            ep, t, event = _TAP.unpack_from(body)
            return Tap(ep, t, bool(event), body[_TAP.size :])
        if cls is Play:
            (n,) = _LEN.unpack_from(body)
            head = json.loads(body[_LEN.size : _LEN.size + n])
            pos = _LEN.size + n
            payloads = []
            for size in head.pop("sizes"):
                payloads.append(body[pos : pos + size])
                pos += size
            if pos != len(body):
                raise ValueError("payload sizes do not add up")
            return Play(**head, payloads=tuple(payloads))
        data = json.loads(body)
        if cls is Stats:
            eps = {int(k): _endpoint_stats(v) for k, v in data["eps"].items()}
            return Stats(
                eps,
                bool(data["overloaded"]),
                float(data["lag_p95_ms"]),
                float(data["cpu"]),
                str(data["disk_error"]),
            )
        if cls is SrtpMarks:
            return SrtpMarks({int(k): (_marks(rx), _marks(tx)) for k, (rx, tx) in data["marks"].items()})
        if cls is State:
            data["srtp_rx_at"] = _marks(data.get("srtp_rx_at", ()))
            data["srtp_tx_at"] = _marks(data.get("srtp_tx_at", ()))
            data["remote"] = _addr(data["remote"])
            pts = data["payload_types"]
            data["payload_types"] = None if pts is None else tuple(pts)
            data["event_pts"] = tuple(data["event_pts"])
        if cls is Closed:
            data["paths"] = tuple(data["paths"])
            data["last"] = None if data.get("last") is None else _endpoint_stats(data["last"])
        msg: Message = cls(**data)
        return msg
    except (struct.error, ValueError, TypeError, KeyError) as exc:
        raise ProtocolError(
            f"メディアの通信を読めません（種類 {kind}）", f"unreadable media message of kind {kind}: {exc}"
        ) from exc


def _marks(value: Any) -> tuple[Mark, ...]:
    return tuple((int(ssrc), int(roc), int(seq)) for ssrc, roc, seq in value)


def _addr(value: Any) -> tuple[str, int] | None:
    return None if value is None else (str(value[0]), int(value[1]))


def _stats_list(v: EndpointStats) -> list[Any]:
    out: list[Any] = [v.rx, v.tx, round(v.last_rx, 3), v.latched]
    if v.remote is not None or v.refused is not None:
        out += [v.remote, v.refused, v.refused_from]
    return out


def _endpoint_stats(v: list[Any]) -> EndpointStats:
    rx, tx, last_rx, latched = int(v[0]), int(v[1]), float(v[2]), bool(v[3])
    if len(v) == 4:
        return EndpointStats(rx, tx, last_rx, latched)
    refused, refused_from = v[5], v[6]
    return EndpointStats(
        rx, tx, last_rx, latched, _addr(v[4]),
        None if refused is None else {str(k): int(n) for k, n in refused.items()},
        None if refused_from is None else [(str(h), int(p)) for h, p in refused_from],
    )  # fmt: skip


class Decoder:
    """Cuts a byte stream into messages (feed it what the socket gave)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        """The messages completed by ``data``; :class:`ProtocolError` on a frame too long or unreadable."""
        self._buf += data
        out: list[Message] = []
        pos = 0
        buf = self._buf
        while len(buf) - pos >= _LEN.size:
            (n,) = _LEN.unpack_from(buf, pos)
            if n < 1 or n > MAX_FRAME:
                raise ProtocolError("メディアの通信のフレーム長が不正です", f"bad media frame length {n}")
            if len(buf) - pos - _LEN.size < n:
                break
            start = pos + _LEN.size
            out.append(decode(buf[start], bytes(buf[start + 1 : start + n])))
            pos = start + n
        del buf[:pos]
        return out
