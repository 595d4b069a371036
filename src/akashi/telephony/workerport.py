"""The stand-in for an RTP port that a media worker process holds (:mod:`~akashi.telephony.mediapool`).

Call control sets and reads a :class:`WorkerEndpoint` as it would an
:class:`~akashi.telephony.media.RtpEndpoint`: a change of what the relay must know goes to the worker as
one :class:`~akashi.telephony.mediaproto.State` (coalesced per turn of the loop), the counters, latching,
refusals and SRTP marks come back from it, and a player or a close goes through it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any, Protocol

from akashi.errors import AkashiError
from akashi.telephony import mediaproto as mp
from akashi.telephony.media import NoticePlayer, RtpEndpoint
from akashi.telephony.recorder import SpoolWriter
from akashi.telephony.sdp import Codec
from akashi.telephony.srtp import StreamMark


class WorkerLink(Protocol):
    """The media worker process that holds an endpoint (:class:`~akashi.telephony.mediapool.MediaWorkers`'s)."""

    def dirty(self, ep: WorkerEndpoint) -> None:
        """``ep`` changed: send its State once this turn of the loop is over."""

    async def play(self, ep: WorkerEndpoint, player: NoticePlayer) -> None:
        """Play to ``ep`` until done."""

    def close_endpoint(self, ep: WorkerEndpoint) -> None:
        """Release ``ep``'s port in the worker."""


#: attributes of an endpoint that the worker must know (a change sends a new State)
_PUSHED = frozenset(
    {
        "remote", "latched", "signal_ip", "nat_ip", "payload_types", "event_pts", "forward", "peer",
        "record_in", "record_out", "tap", "event_tap", "label", "srtp_rx", "srtp_tx",
    }
)  # fmt: skip
#: the SRTP sessions, whose streams' marks (:class:`~akashi.telephony.mediaproto.SrtpMarks`) go with them
_KEYS = frozenset({"srtp_rx", "srtp_tx"})


class WorkerEndpoint(RtpEndpoint):
    """An RTP port held by a media worker: what call control sets is sent there, what it reads comes back."""

    in_worker = True
    #: where the SRTP streams stood at the worker's last report (a restarted worker resumes them there)
    srtp_rx_at: tuple[StreamMark, ...]
    srtp_tx_at: tuple[StreamMark, ...]

    def __init__(self, worker: WorkerLink, ep_id: int, port: int, host: str, v6: bool) -> None:
        self._worker: WorkerLink | None = None  # no State while the base class sets its defaults
        super().__init__(port)
        self.id = ep_id
        self.host = host
        self.v6 = v6
        self.generation = 0
        self.closed = False
        #: set once the worker has released the port, with its final counters (see :meth:`closed_fully`)
        self.done: asyncio.Future[None] | None = None
        self._worker = worker

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in _KEYS:  # a new key is a new crypto context: its streams start afresh
            object.__setattr__(self, f"{name}_at", ())
        if name in _PUSHED and self._worker is not None and not self.closed:
            self._worker.dirty(self)

    def set_remote(self, addr: tuple[str, int] | None, codecs: Iterable[Codec] | None = None) -> None:
        """As :meth:`RtpEndpoint.set_remote`; the worker learns the address and SSRCs again."""
        object.__setattr__(self, "generation", self.generation + 1)
        super().set_remote(addr, codecs)

    def state(self) -> mp.State:
        """What the worker must know of this endpoint now."""
        peer = self.peer
        rec_in, rec_out = self.record_in, self.record_out
        return mp.State(
            ep=self.id,
            generation=self.generation,
            remote=self.remote,
            latched=self.latched,
            signal_ip=self.signal_ip,
            nat_ip=self.nat_ip,
            payload_types=None if self.payload_types is None else tuple(sorted(self.payload_types)),
            event_pts=tuple(sorted(self.event_pts)),
            forward=self.forward,
            peer=peer.id if isinstance(peer, WorkerEndpoint) else None,
            record_in=str(rec_in.path) if isinstance(rec_in, SpoolWriter) else None,
            record_out=str(rec_out.path) if isinstance(rec_out, SpoolWriter) else None,
            tap=self.tap is not None,
            event_tap=self.event_tap is not None,
            label=self.label,
            srtp_rx=_key(self.srtp_rx),
            srtp_tx=_key(self.srtp_tx),
            srtp_rx_at=self.srtp_rx_at,
            srtp_tx_at=self.srtp_tx_at,
        )

    def take_stats(self, st: mp.EndpointStats) -> None:
        """Counters, refusals and the latched address as the worker reports them (no State sent back)."""
        object.__setattr__(self, "rx_packets", st.rx)
        object.__setattr__(self, "tx_packets", st.tx)
        object.__setattr__(self, "last_rx", st.last_rx)
        if st.refused is not None:
            object.__setattr__(self, "refused", st.refused)
        if st.refused_from is not None:
            object.__setattr__(self, "refused_from", st.refused_from)
        if st.latched and not self.latched and st.remote is not None:
            object.__setattr__(self, "remote", st.remote)
            object.__setattr__(self, "latched", True)

    def send(self, data: bytes, now: float) -> None:
        """Not here: a worker endpoint's packets are sent by its worker (:meth:`play_there`)."""
        raise AkashiError(
            "メディアワーカーのポートには直接送れません", "a worker's port sends through its worker"
        )

    async def play_there(self, player: NoticePlayer) -> None:
        """The worker plays the payloads; cancelling this stops it there."""
        worker = self._worker
        if worker is None or self.closed:
            return
        await worker.play(self, player)

    def released(self) -> None:
        """The worker has let the port go (or is gone)."""
        if self.done is not None and not self.done.done():
            self.done.set_result(None)

    async def closed_fully(self, timeout: float = 2.0) -> None:
        """After :meth:`close`: wait until the worker has sent the port's final counters (refusals included)."""
        if self.done is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.done), timeout)

    def close(self) -> None:
        """Release the port in the worker (its spool files are closed there when nothing else records)."""
        if self.closed:
            return
        if self._worker is not None:
            self._worker.close_endpoint(self)
        object.__setattr__(self, "closed", True)
        object.__setattr__(self, "peer", None)
        object.__setattr__(self, "tap", None)
        object.__setattr__(self, "event_tap", None)


def _key(session: object) -> str | None:
    if session is None:
        return None
    key = getattr(session, "key", None)
    if not isinstance(key, bytes):
        raise AkashiError(
            "メディアワーカーには鍵の分かる SRTP セッションが必要です",
            "a media worker needs an SRTP session that carries its key (srtp.sessions)",
        )
    return key.hex()
