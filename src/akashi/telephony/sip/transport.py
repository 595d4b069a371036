"""SIP over UDP with the transaction layer (RFC 3261 section 17): retransmissions and matching.

The transport owns the socket; the user agent above gets requests and responses through callbacks
and never sees a retransmission.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from akashi.telephony.sip.build import response_to
from akashi.telephony.sip.grammar import SipParseError
from akashi.telephony.sip.message import (
    Header,
    Request,
    Response,
    SipMessage,
    canonical,
    iter_stream,
    parse,
    via_param,
)

log = logging.getLogger(__name__)

T1 = 0.5
T2 = 4.0
TIMER_B = 64 * T1

Addr = tuple[str, int]
RequestHandler = Callable[[Request], None]
ResponseHandler = Callable[[Response], None]


@dataclass
class ClientTx:
    """A client transaction: retransmits until answered; hands responses to ``on_response``."""

    request: Request
    dest: Addr
    on_response: ResponseHandler
    final: Response | None = None
    timer: asyncio.TimerHandle | None = None
    timeout: asyncio.TimerHandle | None = None
    interval: float = T1
    ack: bytes | None = None


@dataclass
class ServerTx:
    """A server transaction: the last response, resent when the request is retransmitted."""

    request: Request
    dest: Addr
    last: bytes | None = None
    final_status: int = 0
    timer: asyncio.TimerHandle | None = None
    interval: float = T1
    created: float = field(default_factory=time.monotonic)


class SipUdp(asyncio.DatagramProtocol):
    """UDP endpoint with client and server transactions."""

    def __init__(self, on_request: RequestHandler, on_stray_response: ResponseHandler | None = None) -> None:
        self.on_request = on_request
        self.on_stray_response = on_stray_response
        self.transport: asyncio.DatagramTransport | None = None
        self.client: dict[str, ClientTx] = {}
        self.server: dict[tuple[str, str], ServerTx] = {}
        self.malformed = 0
        #: open TCP connections by remote address: messages to these go over the stream
        self.tcp: dict[Addr, asyncio.StreamWriter] = {}
        #: destinations Akashi connected to over TCP or TLS: never reached over UDP, even once closed
        self.stream_only: dict[Addr, str] = {}
        self._loop = asyncio.get_event_loop()
        self.closed = asyncio.Event()

    # -- asyncio ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()

    @property
    def local(self) -> Addr:
        """The bound (host, port)."""
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def send(self, msg: SipMessage | bytes, dest: Addr) -> None:
        """Send a message (no transaction): over the TCP connection to ``dest`` if there is one."""
        data = msg if isinstance(msg, bytes) else bytes(msg)
        writer = self.tcp.get(dest)
        if writer is not None:
            if not writer.is_closing():
                writer.write(data)
            return
        if dest in self.stream_only:
            log.warning(
                "%s:%d への SIP を送れません（%s 接続が切れています）/ SIP message to %s:%d dropped: its %s "
                "connection is closed",
                *dest,
                self.stream_only[dest],
                *dest,
                self.stream_only[dest],
            )
            return
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, dest)

    def reliable(self, dest: Addr) -> bool:
        """Whether ``dest`` is reached over TCP (no retransmissions then)."""
        return dest in self.tcp

    def datagram_received(self, data: bytes, addr: Addr, *, stream: bool = False, label: str = "TCP") -> None:
        if data.strip(b"\r\n") == b"":
            return  # keep-alive
        try:
            msg = parse(data, stream=stream)
        except SipParseError as exc:
            self.malformed += 1
            self._bad_request(data, addr, exc)
            return
        msg.received_at = time.monotonic()
        msg.source = (addr[0], addr[1])
        msg.transport = label if stream else "UDP"
        try:
            if isinstance(msg, Request):
                self._request(msg, addr)
            else:
                assert isinstance(msg, Response)
                self._response(msg)
        except SipParseError as exc:
            self.malformed += 1
            self._bad_request(data, addr, exc)
        except Exception:  # a bug in one call must not stop the endpoint
            log.exception("SIP message handling failed")

    def _bad_request(self, data: bytes, addr: Addr, exc: SipParseError) -> None:
        """Answer 400 when the request is complete enough to answer; otherwise drop it."""
        try:
            text = data.decode("utf-8", "replace")
            lines = text.replace("\r\n", "\n").split("\n")
            if lines[0].startswith("SIP/") or len(lines[0].split(" ")) < 3:
                return
            req = Request(method=lines[0].split(" ")[0], uri="sip:invalid")
            for line in lines[1:]:
                if not line:
                    break
                name, colon, value = line.partition(":")
                if colon and canonical(name) in ("via", "from", "to", "call-id", "cseq"):
                    req.headers.append(Header(name.strip(), value.strip()))
            if req.method == "ACK" or not all(req.get(h) for h in ("Via", "From", "To", "Call-ID", "CSeq")):
                return
            reason = f"Bad Request ({exc.field})"[:100]
            self.send(response_to(req, 400, reason.replace("\r", " ").replace("\n", " ")), addr)
        except Exception:
            return

    # -- server side ----------------------------------------------------------------------
    def _request(self, req: Request, addr: Addr) -> None:
        # RFC 3581: responses go back to where the request came from
        vias = req.headers
        for h in vias:
            if canonical(h.name) == "via":
                top = h.value.split(",")[0]
                extra = f";received={addr[0]}"
                if via_param(top, "rport") is not None:
                    top = top.replace(";rport=" + (via_param(top, "rport") or ""), "").replace(";rport", "")
                    extra += f";rport={addr[1]}"
                rest = h.value[len(h.value.split(",")[0]) :]
                h.value, h.raw = top + extra + rest, None
                break
        key = (req.branch or req.call_id + str(req.cseq), "INVITE" if req.method == "ACK" else req.method)
        tx = self.server.get(key)
        if req.method == "ACK":
            if tx is not None and tx.final_status >= 300:
                self._stop(tx)  # ACK of our non-2xx final: absorbed by the transaction
                return
            self.on_request(req)  # ACK of a 2xx: for the dialog
            return
        if tx is not None:
            if tx.last is not None:
                self.send(tx.last, tx.dest)
            return
        self.server[key] = ServerTx(req, addr)
        if req.method == "CANCEL":
            inv = self.server.get((key[0], "INVITE"))
            if inv is None:
                self.respond(req, response_to(req, 481))
                return
        self.on_request(req)

    def respond(self, req: Request, resp: Response) -> None:
        """Send a response within the request's server transaction (retransmitted as RFC 3261 says)."""
        key = (req.branch or req.call_id + str(req.cseq), req.method)
        tx = self.server.get(key)
        data = bytes(resp)
        dest = req.source or (tx.dest if tx else None)
        if dest is None:
            return
        if tx is None:
            self.send(data, dest)
            return
        tx.last = data
        self.send(data, dest)
        if resp.status >= 200:
            tx.final_status = resp.status
            if req.method == "INVITE" and not self.reliable(dest):
                tx.interval = T1
                tx.timer = self._loop.call_later(T1, self._retransmit_response, key)
            self._loop.call_later(TIMER_B, self._forget_server, key)

    def respond_stateless(self, req: Request, resp: Response) -> None:
        """Answer without a transaction (RFC 3261 8.2.7): sent once, never resent, nothing kept.

        For refusals under load (a flood's 503): a transaction would resend each unacknowledged
        answer for 32 s, multiplying the flood. A retransmitted request is simply judged again.
        """
        key = (req.branch or req.call_id + str(req.cseq), req.method)
        tx = self.server.pop(key, None)
        dest = req.source or (tx.dest if tx else None)
        if dest is not None:
            self.send(resp, dest)

    def _retransmit_response(self, key: tuple[str, str]) -> None:
        tx = self.server.get(key)
        if tx is None or tx.last is None or tx.final_status == 0:
            return
        if time.monotonic() - tx.created > TIMER_B:
            return
        self.send(tx.last, tx.dest)
        tx.interval = min(tx.interval * 2, T2)
        tx.timer = self._loop.call_later(tx.interval, self._retransmit_response, key)

    def ack_received(self, call_id: str, cseq: int) -> None:
        """A 2xx's ACK arrived (matched by the dialog): stop resending the 2xx."""
        for tx in self.server.values():
            if tx.request.method == "INVITE" and tx.request.call_id == call_id and tx.request.cseq[0] == cseq:
                self._stop(tx)

    def _stop(self, tx: ServerTx) -> None:
        if tx.timer is not None:
            tx.timer.cancel()
            tx.timer = None
        tx.final_status = tx.final_status or 1

    def _forget_server(self, key: tuple[str, str]) -> None:
        tx = self.server.pop(key, None)
        if tx is not None and tx.timer is not None:
            tx.timer.cancel()

    def pending_invite(self, branch: str) -> Request | None:
        """The INVITE a CANCEL with this branch refers to."""
        tx = self.server.get((branch, "INVITE"))
        return tx.request if tx is not None else None

    # -- client side ----------------------------------------------------------------------
    def request(self, req: Request, dest: Addr, on_response: ResponseHandler) -> ClientTx:
        """Start a client transaction (not for ACK: use :meth:`send`)."""
        tx = ClientTx(req, dest, on_response)
        self.client[req.branch + req.method] = tx
        self.send(req, dest)
        if not self.reliable(dest):
            tx.timer = self._loop.call_later(T1, self._retransmit_request, tx)
        tx.timeout = self._loop.call_later(TIMER_B, self._timeout, tx)
        return tx

    def _retransmit_request(self, tx: ClientTx) -> None:
        if tx.final is not None:
            return
        self.send(tx.request, tx.dest)
        tx.interval = min(tx.interval * 2, T2)
        tx.timer = self._loop.call_later(tx.interval, self._retransmit_request, tx)

    def _timeout(self, tx: ClientTx) -> None:
        key = tx.request.branch + tx.request.method
        if self.client.get(key) is tx and tx.final is None:
            del self.client[key]
            if tx.timer:
                tx.timer.cancel()
            fake = response_to(tx.request, 408)
            tx.on_response(fake)

    def _response(self, resp: Response) -> None:
        vias = resp.vias
        if not vias:
            return
        method = resp.cseq[1]
        tx = self.client.get((via_param(vias[0], "branch") or "") + method)
        if tx is None:
            if self.on_stray_response is not None:
                self.on_stray_response(resp)
            return
        if resp.status < 200:
            if tx.timer is not None and method == "INVITE":
                tx.timer.cancel()  # provisional stops INVITE retransmission (timer A)
                tx.timer = None
            if tx.final is None:
                tx.on_response(resp)
            return
        if tx.final is not None:
            # retransmitted final response
            if tx.ack is not None:
                self.send(tx.ack, tx.dest)
            elif resp.status < 300 and method == "INVITE":
                tx.on_response(resp)  # 2xx retransmission: the dialog resends its ACK
            return
        tx.final = resp
        if tx.timer is not None:
            tx.timer.cancel()
        if tx.timeout is not None:
            tx.timeout.cancel()
        if method == "INVITE" and resp.status >= 300:
            tx.ack = bytes(non2xx_ack(tx.request, resp))
            self.send(tx.ack, tx.dest)
        self._loop.call_later(TIMER_B, self.client.pop, tx.request.branch + method, None)
        tx.on_response(resp)

    def close(self) -> None:
        """Close the socket and stop every timer."""
        for ctx in self.client.values():
            for t in (ctx.timer, ctx.timeout):
                if t is not None:
                    t.cancel()
        for stx in self.server.values():
            if stx.timer is not None:
                stx.timer.cancel()
        if self.transport is not None:
            self.transport.close()
        for w in list(self.tcp.values()):
            w.close()

    async def serve_tcp_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, label: str = "TCP"
    ) -> None:
        """Read SIP messages from one TCP (or TLS) connection until it closes (RFC 3261 18.3 framing)."""
        peer = writer.get_extra_info("peername")
        addr: Addr = (str(peer[0]), int(peer[1]))
        self.tcp[addr] = writer
        buf = bytearray()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                buf += data
                try:
                    for raw in iter_stream(buf):
                        self.datagram_received(raw, addr, stream=True, label=label)
                except SipParseError:
                    self.malformed += 1
                    break  # framing is lost: the connection cannot be trusted any more
        except (ConnectionError, OSError):
            pass
        finally:
            if self.tcp.get(addr) is writer:
                del self.tcp[addr]
            writer.close()

    async def connect_tcp(self, dest: Addr) -> None:
        """Open a TCP connection to ``dest`` (reused for every message to it)."""
        self.stream_only.setdefault(dest, "TCP")
        if dest in self.tcp:
            return
        reader, writer = await asyncio.open_connection(dest[0], dest[1])
        self.tcp[dest] = writer
        self._loop.create_task(self._read_outbound(dest, reader, writer))

    async def connect_tls(self, dest: Addr, ctx: ssl.SSLContext, server_hostname: str) -> None:
        """Open a TLS connection to ``dest`` (the certificate checked against ``server_hostname``).

        Reused for every message to ``dest``; a TCP connection Akashi opened there is not reused
        for TLS. Raises OSError (ssl.SSLError for a refused certificate) when it cannot be opened.
        """
        self.stream_only[dest] = "TLS"
        old = self.tcp.get(dest)
        if old is not None and old.get_extra_info("ssl_object") is not None and not old.is_closing():
            return
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(dest[0], dest[1], ssl=ctx, server_hostname=server_hostname), TIMER_B
        )
        self.tcp[dest] = writer
        self._loop.create_task(self._read_outbound(dest, reader, writer, "TLS"))

    async def _read_outbound(
        self, dest: Addr, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, label: str = "TCP"
    ) -> None:
        buf = bytearray()
        try:
            while data := await reader.read(65536):
                buf += data
                for raw in iter_stream(buf):
                    self.datagram_received(raw, dest, stream=True, label=label)
        except (ConnectionError, OSError, SipParseError):
            pass
        finally:
            if self.tcp.get(dest) is writer:
                del self.tcp[dest]
            writer.close()


def non2xx_ack(invite: Request, resp: Response) -> Request:
    """The ACK for a non-2xx final response (same branch as the INVITE, RFC 3261 17.1.1.3)."""
    ack = Request(method="ACK", uri=invite.uri)
    ack.add("Via", invite.vias[0])
    for r in invite.get_all("Route"):
        ack.add("Route", r)
    ack.add("Max-Forwards", "70")
    ack.add("From", invite.header("From"))
    ack.add("To", resp.header("To"))
    ack.add("Call-ID", invite.call_id)
    ack.add("CSeq", f"{invite.cseq[0]} ACK")
    ack.set_body(b"", None)
    return ack
