"""A trunk's dial plan: which numbers an agent may call out to (sans-I/O).

Toll fraud costs money through international and premium-rate numbers, so the defaults allow only
ordinary Japanese numbers. Each trunk decides with :func:`check_number`; a refusal carries a reason
code (for logs and the audit), a message in Japanese and English, and the SIP ``Warning`` value
(RFC 3261 20.43, code 399) that tells the phone why.

Classes, after ``+81`` is read as the national ``0``:

``ordinary``
    fixed lines ``0[1-9]…`` (10 digits), mobile and IP phones ``070/080/090/050`` (11 digits),
    freephone ``0120`` (10 digits) and ``0800`` (11 digits).
``emergency``
    110 (police), 118 (coast guard), 119 (fire and ambulance): allowed unless ``allow_emergency`` is off.
``premium``
    paid numbers: ``0990`` (dial Q2), ``0570`` (navi dial), ``0180`` (information and televoting):
    refused unless ``allow_premium``.
``international``
    ``010…``, a carrier prefix ``00XY…`` (which reaches ``010`` on another carrier), ``+`` other than
    ``+81``: refused unless ``allow_international``.
``other``
    anything else (service numbers like 104, feature codes with ``*`` or ``#``, letters): refused.

A number that fully matches one of the trunk's ``dial_allow`` regular expressions is allowed whatever
its class: that is how an installation opens one foreign partner or one navi-dial number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Protocol

NumberClass = Literal["ordinary", "emergency", "premium", "international", "other"]

#: what the dialled number may look like at all (RFC 3966 digits, no visual separators)
_NUMBER = re.compile(r"^\+?[0-9*#]{1,32}$")
_ORDINARY = (
    re.compile(r"^0[1-9][0-9]{8}$"),  # fixed lines, and 0120 freephone (10 digits)
    re.compile(r"^0[5789]0[0-9]{8}$"),  # 050 IP phones, 070/080/090 mobiles (11 digits)
    re.compile(r"^0800[0-9]{7}$"),  # 0800 freephone (11 digits)
)
_EMERGENCY = frozenset({"110", "118", "119"})
_PREMIUM_PREFIXES = ("0990", "0570", "0180")

_MESSAGES: dict[str, tuple[str, str]] = {
    "international": ("国際電話は発信できません", "international calls are not allowed on this trunk"),
    "premium": (
        "有料番号（0990・0570・0180）には発信できません",
        "premium-rate numbers (0990, 0570, 0180) are not allowed on this trunk",
    ),
    "emergency": ("緊急通報はこの回線から発信できません", "emergency numbers are not allowed on this trunk"),
    "other": ("日本の電話番号ではありません", "not a Japanese telephone number"),
}


class DialPlan(Protocol):
    """What :func:`check_number` reads of a trunk (:class:`~akashi.config.telephony.TrunkSettings`)."""

    @property
    def dial_allow(self) -> list[str]:
        """Regular expressions of numbers allowed whatever their class."""

    @property
    def allow_international(self) -> bool:
        """Whether international numbers are allowed."""

    @property
    def allow_premium(self) -> bool:
        """Whether premium-rate numbers are allowed."""

    @property
    def allow_emergency(self) -> bool:
        """Whether 110, 118 and 119 are allowed."""


@dataclass(frozen=True)
class DialRefusal:
    """Why a number may not be called through a trunk."""

    number: str
    reason: NumberClass
    ja: str
    en: str

    @property
    def message(self) -> str:
        """Japanese, then English."""
        return f"{self.ja} / {self.en}"

    def warning(self, agent: str = "akashi") -> str:
        """The value of a SIP ``Warning`` header (code 399, miscellaneous) saying why."""
        text = self.message.replace("\\", "").replace('"', "")
        return f'399 {agent} "{text}"'


def classify(number: str) -> NumberClass:
    """The class of a dialled number (see the module's description)."""
    if not _NUMBER.fullmatch(number):
        return "other"
    if number.startswith("+"):
        if not number.startswith("+81"):
            return "international"
        if number[3:4] == "0":  # "+810…": the trunk prefix written after the country code
            return "other"
        number = "0" + number[3:]
    if "*" in number or "#" in number:
        return "other"
    if number in _EMERGENCY:
        return "emergency"
    if number.startswith("010") or re.match(r"^00[0-9]{2}", number):
        return "international"
    if number.startswith(_PREMIUM_PREFIXES):
        return "premium"
    if any(p.fullmatch(number) for p in _ORDINARY):
        return "ordinary"
    return "other"


def check_number(number: str, plan: DialPlan) -> DialRefusal | None:
    """``None`` when ``number`` may be called through the trunk, else why not."""
    if any(re.fullmatch(p, number) for p in plan.dial_allow):
        return None
    cls = classify(number)
    allowed = {
        "ordinary": True,
        "emergency": plan.allow_emergency,
        "premium": plan.allow_premium,
        "international": plan.allow_international,
        "other": False,
    }[cls]
    if allowed:
        return None
    ja, en = _MESSAGES[cls]
    return DialRefusal(number, cls, ja, en)
