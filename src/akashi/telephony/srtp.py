"""SRTP with keys exchanged in SDP (SDES, RFC 4568), suite AES_CM_128_HMAC_SHA1_80, through libsrtp.

Each leg that speaks SRTP has its own keys: the peer's (from its ``a=crypto``) to unprotect what it
sends, and Akashi's own, fresh per leg (in Akashi's ``a=crypto``), to protect what Akashi sends. The
relay decrypts on the way in and encrypts on the way out, so what is recorded is the clear RTP, and
it leaves the process only inside the encrypted store. Keys never appear in logs: :class:`Crypto`'s
``repr`` hides them.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import pylibsrtp

from akashi.errors import AkashiError
from akashi.telephony.sdp import SRTP_KEY_LEN, SRTP_SUITE, AudioSession, Crypto

#: what libsrtp raises for a packet that fails authentication, is replayed or cannot be protected
SrtpError = pylibsrtp.Error

#: the Warning of a 488 for an SRTP offer without a suite Akashi speaks
NO_SUITE_WARNING = f'399 akashi "SRTP の暗号方式が合いません (SRTP needs {SRTP_SUITE} with an inline key)"'
#: the failure stored when a leg Akashi asked for SRTP answered without it
PLAIN_ANSWER = "srtp_refused"


class SrtpRefused(AkashiError):
    """A leg that must speak SRTP answered in plain RTP (or with no usable key)."""

    def __init__(self, who: str) -> None:
        super().__init__(
            f"{who} が SRTP に応じませんでした",
            f"{who} answered without SRTP ({SRTP_SUITE}) though it was required",
        )


@dataclass
class LegCrypto:
    """Akashi's key of one leg (sent in its ``a=crypto``) and, once known, the peer's."""

    local: Crypto
    remote: Crypto | None = None


def new_crypto(tag: int = 1) -> Crypto:
    """Akashi's own master key and salt for one leg (30 random bytes)."""
    return Crypto(tag, SRTP_SUITE, secrets.token_bytes(SRTP_KEY_LEN))


def answer_crypto(offer: AudioSession) -> LegCrypto | None:
    """Akashi's answer to an SRTP offer: the first usable ``a=crypto``, with a fresh key under its tag.

    None when the offer has no attribute of :data:`SRTP_SUITE` with an inline key (answer 488).
    """
    if not offer.crypto:
        return None
    theirs = offer.crypto[0]
    return LegCrypto(new_crypto(theirs.tag), theirs)


def take_answer(mine: LegCrypto, answer: AudioSession, who: str) -> None:
    """The peer's answer to Akashi's SRTP offer: its key under Akashi's tag, or :class:`SrtpRefused`."""
    theirs = next((c for c in answer.crypto if c.tag == mine.local.tag), None)
    if not answer.srtp or theirs is None:
        raise SrtpRefused(who)
    mine.remote = theirs


#: where one SRTP stream is: (SSRC, rollover counter, last sequence number)
StreamMark = tuple[int, int, int]


class KeyedSession(pylibsrtp.Session):
    """A libsrtp session that keeps its master key: a media worker process is sent the key, not the session."""

    def __init__(self, key: bytes, *, inbound: bool) -> None:
        ssrc_type = pylibsrtp.Policy.SSRC_ANY_INBOUND if inbound else pylibsrtp.Policy.SSRC_ANY_OUTBOUND
        super().__init__(pylibsrtp.Policy(key=key, ssrc_type=ssrc_type))
        self.key = key
        self.inbound = inbound

    def __repr__(self) -> str:
        return f"{type(self).__name__}({'inbound' if self.inbound else 'outbound'}, key hidden)"


class ResumableSession(KeyedSession):
    """A media worker's session: it keeps the last packet it passed, so that :meth:`marks` can say where
    each stream is (rollover counter and sequence number, RFC 3711 3.3.1). A worker that dies and is
    started again gets a fresh session; ``resume`` brings its streams to those marks first, or a call past
    65,536 packets (about 22 minutes) would fail authentication both ways after the restart. (The SIP
    process's own relay, which never restarts alone, uses :class:`KeyedSession` and keeps nothing.)
    """

    def __init__(self, key: bytes, *, inbound: bool, resume: tuple[StreamMark, ...] = ()) -> None:
        super().__init__(key, inbound=inbound)
        self.last = b""
        self._streams: dict[int, tuple[int, int]] = {}
        for ssrc, roc, seq in resume:
            self._fast_forward(ssrc, (roc << 16) | seq)
            self._streams[ssrc] = (roc, seq)

    def protect(self, packet: bytes) -> bytes:
        """As libsrtp's, remembering the clear packet for :meth:`marks`."""
        self.last = packet
        return super().protect(packet)

    def unprotect(self, packet: bytes) -> bytes:
        """As libsrtp's, remembering the clear packet for :meth:`marks`."""
        clear = super().unprotect(packet)
        self.last = clear
        return clear

    def marks(self) -> tuple[StreamMark, ...]:
        """Where each stream is now, from the last packet passed; called often enough (well within
        32,768 packets of a stream) to see every wrap of its sequence number."""
        last = self.last
        if len(last) >= 12:
            ssrc, seq = int.from_bytes(last[8:12], "big"), int.from_bytes(last[2:4], "big")
            roc, prev = self._streams.get(ssrc, (0, seq))
            if seq < prev and prev - seq > 0x8000:
                roc += 1  # wrapped since the last look
            elif seq > prev and seq - prev > 0x8000:
                seq = prev  # a late packet from before the wrap: the stream is not behind
            self._streams[ssrc] = (roc, seq)
        return tuple((ssrc, roc, seq) for ssrc, (roc, seq) in self._streams.items())

    def _fast_forward(self, ssrc: int, index: int) -> None:
        """Bring stream ``ssrc`` to packet ``index`` with steps libsrtp's index guess follows (a quarter
        of the sequence space each); an inbound session is fed packets protected with its own key."""
        helper = KeyedSession(self.key, inbound=False)
        step = index % 0x4000
        while True:
            packet = (
                b"\x80\x00"
                + (step & 0xFFFF).to_bytes(2, "big")
                + bytes(4)
                + ssrc.to_bytes(4, "big")
                + b"\x00"
            )
            if self.inbound:
                super().unprotect(helper.protect(packet))
            else:
                super().protect(packet)
            if step >= index:
                return
            step = min(step + 0x4000, index)


def sessions(keys: LegCrypto) -> tuple[KeyedSession, KeyedSession]:
    """The libsrtp sessions of a leg: (protect with Akashi's key, unprotect with the peer's)."""
    assert keys.remote is not None
    return KeyedSession(keys.local.key, inbound=False), KeyedSession(keys.remote.key, inbound=True)


_CRYPTO_LINE = re.compile(rb"^a=crypto:[^\r\n]*(\r?\n)", re.M)
_M_PROFILE = re.compile(rb"^(m=audio \d+ )(RTP/S?AVP)( )", re.M)


def rewrite_crypto(body: bytes, crypto: Crypto | None) -> bytes:
    """An SDP passed from one leg to the other, with that other leg's own SRTP (or none).

    The ``a=crypto`` lines of the leg it came from are removed: its keys are for that leg only.
    """
    body = _CRYPTO_LINE.sub(b"", body)
    profile = b"RTP/SAVP" if crypto is not None else b"RTP/AVP"
    body = _M_PROFILE.sub(lambda m: m.group(1) + profile + m.group(3), body, count=1)
    if crypto is None:
        return body
    line = f"a=crypto:{crypto.line()}\r\n".encode()
    m = re.search(rb"^m=audio [^\r\n]*\r?\n", body, re.M)
    if m is None:
        return body
    return body[: m.end()] + line + body[m.end() :]
