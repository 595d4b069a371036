"""REGISTER to a trunk with digest authentication, refreshed before it expires (RFC 3261 10)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from akashi.config.telephony import TrunkSettings
from akashi.errors import ProtocolError
from akashi.telephony.sip.build import new_branch, new_call_id, new_tag, request
from akashi.telephony.sip.digest import DigestError
from akashi.telephony.sip.grammar import split_hostport
from akashi.telephony.sip.message import Response, split_list
from akashi.telephony.sip.uri import parse_name_addr
from akashi.telephony.trunks import connect, contact, credentials

if TYPE_CHECKING:
    from akashi.telephony.call.host import CallHost

log = logging.getLogger(__name__)

RETRY_S = 30.0


class Registrar:
    """Keeps one trunk registration alive; ``await run()`` until cancelled (then unregisters)."""

    def __init__(self, svc: CallHost, trunk: TrunkSettings) -> None:
        self.svc = svc
        self.trunk = trunk
        host, port = split_hostport(trunk.host, "trunk host")
        self.host = host if port is None else f"{host}:{port}"
        self.call_id = new_call_id(svc.host)
        self.tag = new_tag()
        self.cseq = 0
        self.registered = asyncio.Event()
        self.expires = 0
        self.registrations = 0
        self.credentials = credentials(trunk)
        #: ";transport=tcp" or ";transport=tls" for a stream trunk
        self.params = "" if trunk.transport == "udp" else f";transport={trunk.transport}"
        #: why the last challenge was not answered ('' when it was)
        self.refused = ""
        #: where the last REGISTER went
        self.dest: tuple[str, int] | None = None

    async def run(self) -> None:
        """Register, refresh at 80% of the granted time, retry after failures."""
        try:
            while True:
                try:
                    granted = await self.register(self.trunk.register_expires_s)
                except (ProtocolError, OSError) as exc:  # DNS or network down: retry, never stop Akashi
                    log.warning("registration with trunk %s failed: %s", self.trunk.name, exc)
                    granted = 0
                if granted > 0:
                    self.registrations += 1
                    self.registered.set()
                    await asyncio.sleep(max(1.0, granted * 0.8))
                else:
                    self.registered.clear()
                    await asyncio.sleep(RETRY_S)
        finally:
            if self.registered.is_set():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.register(0), 2)

    async def register(self, expires: int) -> int:
        """One REGISTER transaction (answering up to two challenges); the granted seconds, 0 on failure.

        Every challenge of a 401/407 is read and the strongest answerable one answered, with the
        trunk's credentials only (its host, and its realm when set); when none can be answered the
        registration fails at once with the reason logged.
        """
        auth_header: tuple[str, str] | None = None
        uri = f"sip:{self.host}"
        status = 0
        for _ in range(3):
            resp = await self._send(expires, auth_header)
            status = resp.status
            if resp.status in (401, 407):
                hdr = "WWW-Authenticate" if resp.status == 401 else "Proxy-Authenticate"
                try:
                    if self.credentials is None:
                        raise DigestError("no username configured for the trunk")
                    value = self.credentials.answer(
                        resp.get_each(hdr), method="REGISTER", uri=uri, source=resp.source, sent_to=self.dest
                    )
                except DigestError as exc:
                    log.warning(
                        "トランク %s の認証要求に応答しません（%d）/ registration with trunk %s: %d not answered: %s",
                        self.trunk.name,
                        resp.status,
                        self.trunk.name,
                        resp.status,
                        exc.reason,
                    )
                    self.refused = exc.reason
                    return 0
                auth_header = ("Authorization" if resp.status == 401 else "Proxy-Authorization", value)
                continue
            if 200 <= resp.status < 300:
                return expires if expires == 0 else granted(resp, expires)
            break
        log.warning("registration with trunk %s failed (%d)", self.trunk.name, status)
        return 0

    async def _send(self, expires: int, auth: tuple[str, str] | None) -> Response:
        uri = f"sip:{self.host}{self.params}"
        dest = await self.svc.resolve(uri)
        if dest is None:
            raise ProtocolError(
                f"トランク {self.trunk.host} が見つかりません", f"cannot resolve trunk {self.trunk.host}"
            )
        self.dest = dest
        transport = await connect(self.svc, uri, dest)  # TCP or TLS as configured: never UDP then
        self.cseq += 1
        aor = f"<sip:{self.trunk.username or 'akashi'}@{self.host}>"
        extra = [("Expires", str(expires))]
        if auth is not None:
            extra.append(auth)
        req = request(
            "REGISTER",
            f"sip:{self.host}",
            via=f"SIP/2.0/{transport} {self.svc.via_host};branch={new_branch()};rport",
            from_=f"{aor};tag={self.tag}",
            to=aor,
            call_id=self.call_id,
            cseq=self.cseq,
            contact=contact(self.svc, transport),
            extra=extra,
        )
        fut: asyncio.Future[Response] = asyncio.get_running_loop().create_future()

        def done(resp: Response) -> None:
            if resp.status >= 200 and not fut.done():
                fut.set_result(resp)

        self.svc.sip.request(req, dest, done)
        return await fut


def granted(resp: Response, asked: int) -> int:
    """Seconds the registrar granted: our Contact's expires, else Expires, else what we asked."""
    for c in split_list(",".join(resp.get_all("Contact"))):
        with contextlib.suppress(ProtocolError, ValueError):
            p = parse_name_addr(c).param("expires")
            if p:
                return int(p)
    e = resp.get("Expires")
    if e and e.strip().isdigit():
        return int(e.strip())
    return asked
