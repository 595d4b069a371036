"""Recording metadata (RFC 7865 model, RFC 7866 ``application/rs-metadata+xml``), parsed into typed objects.

Both forms SRCs send are read: the RFC's (namespace ``urn:ietf:params:xml:ns:recording:1``,
``participant_id``/``stream_id`` attributes, ``participantstreamassoc``) and the older draft form many
SBCs still send (namespace without ``:1``, ``id``/``session`` attributes, ``send``/``recv`` inside the
participant, Oracle/Acme's ``apkt:callingParty`` extension, Ribbon/Sonus's ``callData`` with the
original From/To). Other extensions are ignored. :meth:`Metadata.to_xml` writes the RFC form, which
:func:`parse_metadata` reads back equal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, TypeVar
from xml.sax.saxutils import escape, quoteattr

from akashi.telephony.siprec import SiprecError
from akashi.telephony.siprec.xmltree import Element, parse_xml

NAMESPACES = ("urn:ietf:params:xml:ns:recording:1", "urn:ietf:params:xml:ns:recording")
RFC_NS = NAMESPACES[0]
#: media types of the metadata part (RFC 7866 uses the first; some SRCs send the second)
MEDIA_TYPES = ("application/rs-metadata+xml", "application/rs-metadata")
#: a participant, stream or session identifier, a name or an AOR longer than this is refused
MAX_TEXT = 256

DataMode = Literal["complete", "partial"]


@dataclass(frozen=True)
class Participant:
    """A party of the recorded call: its AOR and display name, the streams it sends and receives."""

    id: str
    aor: str = ""
    name: str = ""
    send: tuple[str, ...] = ()
    recv: tuple[str, ...] = ()
    #: the SRC says this party placed the call (True), was called (False), or does not say (None)
    calling: bool | None = None
    #: the SRC says the party left the session (``disassociate-time``)
    left: bool = False


@dataclass(frozen=True)
class Stream:
    """A recorded media stream: its id and the SDP ``a=label`` it is carried on."""

    id: str
    label: str
    session: str = ""


@dataclass(frozen=True)
class Session:
    """A communication session (the recorded call) as the SRC names it."""

    id: str
    sip_session_id: str = ""
    start_time: str = ""


@dataclass(frozen=True)
class Metadata:
    """One metadata document (``complete``), or an update of one (``partial``)."""

    datamode: DataMode = "complete"
    sessions: tuple[Session, ...] = ()
    participants: tuple[Participant, ...] = ()
    streams: tuple[Stream, ...] = ()
    #: the original call's From and To (Ribbon/Sonus ``callData``), "" when not given
    from_hdr: str = ""
    to_hdr: str = ""

    def participant(self, pid: str) -> Participant | None:
        """The participant of an id."""
        return next((p for p in self.participants if p.id == pid), None)

    def stream(self, sid: str) -> Stream | None:
        """The stream of an id."""
        return next((s for s in self.streams if s.id == sid), None)

    def sender_of(self, label: str) -> Participant | None:
        """The participant sending the stream on SDP label ``label`` now."""
        ids = {s.id for s in self.streams if s.label == label}
        found = [p for p in self.participants if ids & set(p.send)]
        # the latest party that has not left: after a transfer, the agent who took the stream over
        return next((p for p in reversed(found) if not p.left), found[-1] if found else None)

    def merge(self, update: Metadata) -> Metadata:
        """This document after ``update``: a complete one replaces it, a partial one changes it by id."""
        if update.datamode == "complete":
            return update
        return Metadata(
            "complete",
            _merged(self.sessions, update.sessions),
            _merged(self.participants, tuple(self._kept(p) for p in update.participants)),
            _merged(self.streams, update.streams),
            update.from_hdr or self.from_hdr,
            update.to_hdr or self.to_hdr,
        )

    def _kept(self, new: Participant) -> Participant:
        """A participant of a partial update: the stream associations it does not restate are kept."""
        old = self.participant(new.id)
        if old is None:
            return new
        return replace(
            new,
            aor=new.aor or old.aor,
            name=new.name or old.name,
            send=new.send or old.send,
            recv=new.recv or old.recv,
            calling=old.calling if new.calling is None else new.calling,
        )

    def to_xml(self) -> bytes:
        """The RFC 7866 document (``participantstreamassoc`` for send/recv)."""
        out = ["<?xml version='1.0' encoding='UTF-8'?>", f"<recording xmlns={quoteattr(RFC_NS)}>"]
        out.append(f"<datamode>{self.datamode}</datamode>")
        if self.from_hdr or self.to_hdr:
            out.append("<group group_id='g'><callData xmlns='urn:ietf:params:xml:ns:callData'>")
            out.append(f"<fromhdr>{escape(self.from_hdr)}</fromhdr><tohdr>{escape(self.to_hdr)}</tohdr>")
            out.append("</callData></group>")
        for s in self.sessions:
            out.append(f"<session session_id={quoteattr(s.id)}>")
            if s.sip_session_id:
                out.append(f"<sipSessionID>{escape(s.sip_session_id)}</sipSessionID>")
            if s.start_time:
                out.append(f"<start-time>{escape(s.start_time)}</start-time>")
            out.append("</session>")
        for p in self.participants:
            out.append(f"<participant participant_id={quoteattr(p.id)}>")
            if p.aor or p.name:
                out.append(f"<nameID aor={quoteattr(p.aor)}><name>{escape(p.name)}</name></nameID>")
            if p.calling is not None:
                out.append("<extensiondata xmlns:apkt='http://acmepacket.com/siprec/extensiondata'>")
                out.append(f"<apkt:callingParty>{str(p.calling).lower()}</apkt:callingParty></extensiondata>")
            out.append("</participant>")
        for st in self.streams:
            out.append(f"<stream stream_id={quoteattr(st.id)} session_id={quoteattr(st.session)}>")
            out.append(f"<label>{escape(st.label)}</label></stream>")
        for p in self.participants:
            if p.left:
                out.append(f"<participantsessionassoc participant_id={quoteattr(p.id)} session_id=''>")
                out.append("<disassociate-time>1970-01-01T00:00:00Z</disassociate-time>")
                out.append("</participantsessionassoc>")
            if p.send or p.recv:
                out.append(f"<participantstreamassoc participant_id={quoteattr(p.id)}>")
                out += [f"<send>{escape(s)}</send>" for s in p.send]
                out += [f"<recv>{escape(s)}</recv>" for s in p.recv]
                out.append("</participantstreamassoc>")
        out.append("</recording>")
        return "\n".join(out).encode()


_T = TypeVar("_T", "Session", "Participant", "Stream")


def _merged(old: tuple[_T, ...], new: tuple[_T, ...]) -> tuple[_T, ...]:
    """``old`` with the items of ``new`` replacing those of the same id, new ids appended."""
    by_id: dict[str, _T] = {x.id: x for x in new}
    out: list[_T] = [by_id.pop(x.id, x) for x in old]
    out.extend(by_id.values())
    return tuple(out)


def _text(value: str, what: str) -> str:
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise SiprecError("metadata", f"{what} longer than {MAX_TEXT} characters")
    return value


def _attr(el: Element, *names: str) -> str:
    return next((el.attrs[n] for n in names if n in el.attrs), "")


def _id(el: Element, kind: str) -> str:
    """The id of a session, participant or stream element (RFC ``<kind>_id``, draft ``id``)."""
    value = _text(_attr(el, f"{kind}_id", "id"), f"{kind} id")
    if not value:
        raise SiprecError("metadata", f"{kind} without an id")
    return value


def _name(value: str) -> str:
    """A display name as SRCs write it (Acme quotes it; Ribbon sends a lone space for none)."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].strip()
    return "".join(" " if ch.isspace() else ch for ch in value if ch.isprintable() or ch.isspace())


def _calling(el: Element) -> bool | None:
    for ext in el.find_all("extensiondata"):
        for c in ext.iter():
            if c.name.lower() == "callingparty":
                return c.text.strip().lower() == "true"
    return None


def parse_metadata(data: bytes) -> Metadata:
    """The metadata of an ``application/rs-metadata+xml`` body."""
    root = parse_xml(data)
    if root.name != "recording" or root.ns not in NAMESPACES:
        raise SiprecError("metadata", f"root element is not a SIPREC recording: {root.name[:40]!r}")
    mode = root.child_text("datamode") or "complete"
    if mode not in ("complete", "partial"):
        raise SiprecError("metadata", f"datamode {mode[:20]!r}")
    datamode: DataMode = "partial" if mode == "partial" else "complete"
    sessions = [
        Session(
            _id(s, "session"),
            _text(s.child_text("sipSessionID"), "sipSessionID"),
            s.child_text("start-time")[:40],
        )
        for s in root.find_all("session")
    ]
    participants: dict[str, Participant] = {}
    for el in root.find_all("participant"):
        pid = _id(el, "participant")
        name_id = el.find("nameID")
        aor = _text(name_id.attrs.get("aor", "") if name_id else el.child_text("aor"), "aor")
        name = _text(_name(name_id.child_text("name")) if name_id else "", "name")
        participants[pid] = Participant(
            pid,
            aor,
            name,
            tuple(_text(s.text, "send") for s in el.find_all("send")),
            tuple(_text(s.text, "recv") for s in el.find_all("recv")),
            _calling(el),
        )
    for el in root.find_all("participantstreamassoc"):
        p = participants.get(_id(el, "participant"))
        if p is not None:
            send = tuple(_text(s.text, "send") for s in el.find_all("send"))
            recv = tuple(_text(s.text, "recv") for s in el.find_all("recv"))
            participants[p.id] = replace(p, send=send or p.send, recv=recv or p.recv)
    for el in root.find_all("participantsessionassoc"):
        pid = _id(el, "participant")
        if el.find("disassociate-time") is not None:
            # a party that left: in a partial update it may be named here only (the rest is kept by merge)
            participants[pid] = replace(participants.get(pid) or Participant(pid), left=True)
    streams = [
        Stream(
            _id(s, "stream"),
            _text(s.child_text("label"), "label"),
            _text(_attr(s, "session_id", "session"), "session"),
        )
        for s in root.find_all("stream")
    ]
    from_hdr = to_hdr = ""
    for group in root.find_all("group"):
        data_el = group.find("callData")
        if data_el is not None:
            from_hdr = _text(data_el.child_text("fromhdr"), "fromhdr")
            to_hdr = _text(data_el.child_text("tohdr"), "tohdr")
    return Metadata(datamode, tuple(sessions), tuple(participants.values()), tuple(streams), from_hdr, to_hdr)
