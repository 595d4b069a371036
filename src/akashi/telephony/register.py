"""REGISTER to a trunk with digest authentication, refreshed before it expires (RFC 3261 10)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from akashi.config.telephony import TrunkSettings
from akashi.errors import ProtocolError
from akashi.telephony.sip.build import new_branch, new_call_id, new_tag, request
from akashi.telephony.sip.digest import authorization
from akashi.telephony.sip.message import Response, split_hostport, split_list
from akashi.telephony.sip.uri import parse_name_addr

if TYPE_CHECKING:
    from akashi.telephony.service import TelephonyService

log = logging.getLogger(__name__)

RETRY_S = 30.0


class Registrar:
    """Keeps one trunk registration alive; ``await run()`` until cancelled (then unregisters)."""

    def __init__(self, svc: TelephonyService, trunk: TrunkSettings) -> None:
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
        """One REGISTER transaction (answering up to two challenges); the granted seconds, 0 on failure."""
        auth_header: tuple[str, str] | None = None
        for _ in range(3):
            resp = await self._send(expires, auth_header)
            if resp.status in (401, 407) and self.trunk.username:
                hdr = "WWW-Authenticate" if resp.status == 401 else "Proxy-Authenticate"
                challenge = resp.get(hdr)
                if challenge is None:
                    break
                try:
                    value = authorization(
                        challenge,
                        method="REGISTER",
                        uri=f"sip:{self.host}",
                        username=self.trunk.username,
                        password=self.trunk.password.get_secret_value(),
                    )
                except ProtocolError:
                    break
                auth_header = ("Authorization" if resp.status == 401 else "Proxy-Authorization", value)
                continue
            if 200 <= resp.status < 300:
                return expires if expires == 0 else granted(resp, expires)
            break
        log.warning("registration with trunk %s failed", self.trunk.name)
        return 0

    async def _send(self, expires: int, auth: tuple[str, str] | None) -> Response:
        dest = await self.svc.resolve(f"sip:{self.host}")
        if dest is None:
            raise ProtocolError(
                f"トランク {self.trunk.host} が見つかりません", f"cannot resolve trunk {self.trunk.host}"
            )
        self.cseq += 1
        aor = f"<sip:{self.trunk.username or 'akashi'}@{self.host}>"
        extra = [("Expires", str(expires))]
        if auth is not None:
            extra.append(auth)
        req = request(
            "REGISTER",
            f"sip:{self.host}",
            via=f"SIP/2.0/UDP {self.svc.via_host};branch={new_branch()};rport",
            from_=f"{aor};tag={self.tag}",
            to=aor,
            call_id=self.call_id,
            cseq=self.cseq,
            contact=self.svc.contact,
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
