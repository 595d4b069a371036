"""Sans-I/O segment cutting and wall-clock timing of one RTSP session.

The recorder feeds every video packet's presentation time (seconds on the stream clock) and
keyframe flag; :class:`Cutter` answers whether a new segment starts at that packet. Times on the
stream clock map to wall-clock UTC through the anchor taken at the session's first timed packet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# A keyframe this close before the target length still closes the segment; otherwise the
# segments drift by a whole GOP (the target is rarely a multiple of the GOP exactly).
CUT_TOLERANCE_S = 0.25


@dataclass(frozen=True)
class StreamParams:
    """What must not change inside one segment."""

    codec: str
    width: int
    height: int
    extradata: bytes = b""


#: Correct the wall-clock mapping once the camera's clock is this far off ours (seconds).
DRIFT_LIMIT_S = 1.0


class Anchor:
    """Maps stream time to wall-clock time: ``wall = wall0 + (t - t0)``.

    A camera's media clock drifts from ours (100 ppm is 8.6 s a day), so the recorder reports each
    packet's arrival with :meth:`observe`; the smallest lag seen (arrival minus mapped time) is the
    offset without network delay or bursts, and :meth:`correct` moves the mapping by it at a segment
    boundary once it passes :data:`DRIFT_LIMIT_S`.
    """

    def __init__(self, wall0: datetime, t0: float) -> None:
        self.wall0 = wall0
        self.t0 = t0
        self.min_lag: float | None = None
        self._wall0_s = wall0.timestamp()  # the same in POSIX seconds, for the per-packet path

    def wall(self, t: float) -> datetime:
        """Wall-clock UTC of stream time ``t`` (seconds)."""
        return self.wall0 + timedelta(seconds=t - self.t0)

    @classmethod
    def now(cls, t0: float, age: float = 0.0) -> Anchor:
        """An anchor whose stream time ``t0`` is now (``age`` seconds ago)."""
        return cls(datetime.now(UTC) - timedelta(seconds=age), t0)

    def observe(self, t: float, arrived: datetime) -> None:
        """A packet of stream time ``t`` arrived at ``arrived``."""
        self.observe_s(t, arrived.timestamp())

    def observe_s(self, t: float, arrived_s: float) -> None:
        """:meth:`observe` with the arrival in POSIX seconds (``time.time()``): no datetime per packet."""
        lag = arrived_s - self._wall0_s - (t - self.t0)
        if self.min_lag is None or lag < self.min_lag:
            self.min_lag = lag

    def correct(self, limit: float = DRIFT_LIMIT_S) -> float:
        """Shift the mapping by the observed offset when it passes ``limit``; returns the shift (s)."""
        lag, self.min_lag = self.min_lag, None
        if lag is None or abs(lag) <= limit:
            return 0.0
        self.wall0 += timedelta(seconds=lag)
        self._wall0_s = self.wall0.timestamp()
        return lag


class Cutter:
    """Decides where segments start: on a keyframe once ``seconds`` (less tolerance) have passed,
    or at once on a keyframe that changes the codec or resolution."""

    def __init__(self, seconds: float, tolerance: float = CUT_TOLERANCE_S) -> None:
        if seconds <= 0:
            raise ValueError("segment seconds must be positive")
        self.seconds = seconds
        self.tolerance = min(tolerance, seconds / 2)
        self.start: float | None = None
        self.params: StreamParams | None = None

    def feed(self, t: float, keyframe: bool, params: StreamParams) -> bool:
        """Return True when a new segment must start with this packet (always on the first keyframe).

        Packets before the first keyframe are not recordable: callers drop them while
        :attr:`start` is None and this returns False.
        """
        if not keyframe:
            return False
        if self.start is None or self.params != params or t - self.start >= self.seconds - self.tolerance:
            self.start = t
            self.params = params
            return True
        return False


def _nal_units(data: bytes) -> list[bytes]:
    """Split an Annex B byte stream at its start codes (00 00 01 / 00 00 00 01)."""
    units: list[bytes] = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        start = i + 3
        nxt = data.find(b"\x00\x00\x01", start)
        end = len(data) if nxt < 0 else nxt
        unit = data[start:end]
        if nxt >= 0 and unit.endswith(b"\x00"):
            unit = unit[:-1]  # the leading zero of a 4-byte start code
        if unit:
            units.append(unit)
        i = nxt
    return units


def parameter_sets(data: bytes, codec: str) -> bytes:
    """The in-band SPS (and VPS for H.265) of an Annex B keyframe, concatenated; b"" if none.

    A change means a new resolution or profile mid-session: the segment must be cut there.
    PPS is left out on purpose (encoders may rotate it without changing the picture format), and a set
    repeated in one keyframe counts once (an RTP packetizer may send its own copy before the encoder's).
    """
    if codec == "h264":
        wanted = {7}
        return b"".join(dict.fromkeys(u for u in _nal_units(data) if u[0] & 0x1F in wanted))
    if codec in ("hevc", "h265"):
        wanted = {32, 33}
        return b"".join(dict.fromkeys(u for u in _nal_units(data) if (u[0] >> 1) & 0x3F in wanted))
    return b""
