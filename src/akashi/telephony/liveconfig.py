"""Configuration changes taken by a running :class:`~akashi.telephony.service.TelephonyService`.

:class:`~akashi.config.watch.ConfigWatch` hands every new :class:`Settings` to :class:`LiveSettings`,
which puts the routes, notices and other per-call SIP settings in force for the calls that come next.
Calls in progress keep theirs (a call holds its route from its INVITE, and the audio it is playing).
Agents need nothing here: the service looks them up in ``ak.settings`` for each call and REGISTER.

What the service bound or built at start (addresses, ports, TLS, trunk registrations, limits) stays as
it is until a restart: those keys (:data:`~akashi.config.watch.RESTART_KEYS`) keep their old values.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from akashi.config.watch import RESTART_KEYS
from akashi.errors import AkashiError
from akashi.telephony.announce import Announcements

if TYPE_CHECKING:
    from akashi.config import Settings
    from akashi.telephony.service import TelephonyService

log = logging.getLogger(__name__)

#: SIP settings read once at start (the part after ``sip.``).
SIP_AT_START = tuple(k[4:] for k in RESTART_KEYS if k.startswith("sip."))


class LiveSettings:
    """A :class:`ConfigWatch` listener that keeps one telephony service's settings up to date."""

    def __init__(self, svc: TelephonyService) -> None:
        self.svc = svc
        #: what the notices' audio was made from: a changed text, voice or WAV makes it again
        self.notices_from = svc.ak.settings.announcements
        self._tasks: set[asyncio.Task[None]] = set()
        #: rounds applied (tests read it)
        self.applied = 0

    def __call__(self, settings: Settings) -> None:
        svc = self.svc
        kept = {k: getattr(svc.settings, k) for k in SIP_AT_START}
        svc.settings = settings.sip.model_copy(update=kept)
        if settings.announcements != self.notices_from:
            self.notices_from = settings.announcements
            svc.notices = Announcements(svc.ak, svc.notices.cache)  # a call already playing keeps its audio
        task = asyncio.get_running_loop().create_task(self._prepare())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.applied += 1
        log.info("SIP の経路・告知・担当者を反映しました / routes, notices and agents applied to new calls")

    async def _prepare(self) -> None:
        """Make the notices of the routes now in force before their first call needs them."""
        try:
            await self.svc.notices.prepare(self.svc.settings.routes)
        except AkashiError as exc:  # a missing WAV: said now, and by the call that needs it
            log.warning("告知を用意できません / notice not prepared: %s", exc.en)
